"""``--seeds N``: a sampled model's benchmark run N times, one sampling seed each, scored as one.

Only sampled decoding has seeds (the InternVL3.5 ``-Thinking`` entries; every other entry decodes
greedily, the same prediction under any seed, so ``--seeds`` above 1 is refused for them). Seed 0 is
the run's own pass: its prediction file is the usual ``<model>_<data>.xlsx``, so a one-seed run and
the first seed of a several-seed run are the same files. Seeds 1..N-1 write theirs under
``<model>/seeds/seed<k>/`` (same names, so every reader of a prediction folder reads them as it reads
any), each scored there on its own. The benchmark's score record then holds the mean of the N seeds'
headlines and the interval of ``vleval.stats.seeds`` (units and seeds resampled together); each seed's
own headline is kept in its notes and metrics (``seed <k>``), and the settings record lists the seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vleval.errors import VlevalError
from vleval.types import EvalSettings, Interval, ModelCard, ScoreRecord
from vleval.workdir import SEEDS_FOLDER, seed_folder

if TYPE_CHECKING:
    from vleval.datasets.scoring import EvalResult
    from vleval.runner.infer import BenchmarkCell


def seed_list(n: int) -> tuple[int, ...]:
    """The sampling seeds of an ``--seeds n`` run."""
    return tuple(range(max(1, n)))


def samples(card: ModelCard) -> bool:
    """Whether ``card`` decodes by sampling (so that seeds give other predictions)."""
    return card.thinking


def check_seeds(n: int, models: Sequence[ModelCard]) -> None:
    """``--seeds`` above 1 only for models that sample: a greedy model would repeat one run N times."""
    if n <= 1:
        return
    greedy = [m.name for m in models if not samples(m)]
    if greedy:
        raise VlevalError(
            f"--seeds {n}: {', '.join(greedy)} decode{'s' if len(greedy) == 1 else ''} greedily (one "
            "prediction whatever the seed); seeds apply to sampled decoding only (a -Thinking model). "
            "Drop --seeds or run those models separately."
        )


def seeds_dry_run_line(n: int) -> str:
    """What the dry run says of ``--seeds n``: its bills are for one pass."""
    return (
        f"--seeds {n}: each benchmark is inferred and scored {n} times (sampling seeds 0..{n - 1}); the "
        f"time and judge bills below are for one seed: multiply them by {n}"
    )


def seed_pred_file(pred_file: Path, seed: int) -> Path:
    """Where seed ``seed``'s predictions go (seed 0: the run's own prediction file)."""
    if seed == 0:
        return pred_file
    return seed_folder(pred_file.parent, seed) / pred_file.name


def seed_cells(bench: BenchmarkCell, n: int) -> list[BenchmarkCell]:
    """The passes of seeds 1..n-1 of ``bench`` (seed 0's pass is ``bench`` itself), for a sampling model."""
    if n <= 1 or not samples(bench.model):
        return []
    return [
        dataclasses.replace(
            bench, sampling_seed=seed, pred_file=seed_pred_file(bench.pred_file, seed), prompts_file=None
        )
        for seed in seed_list(n)[1:]
    ]


def seed_settings(settings: EvalSettings | None, cell: BenchmarkCell, n: int) -> EvalSettings | None:
    """The settings of one seed's pass of a several-seed run: its own seed (the pooled record lists them
    all, ``pool_record``)."""
    if settings is None or n <= 1 or not samples(cell.model):
        return settings
    return dataclasses.replace(settings, sampling_seeds=(cell.sampling_seed or 0,))


def pool_seed_results(
    bench: BenchmarkCell, n: int, first: EvalResult, score_seed: Any, *, bootstrap_seed: int = 0
) -> None:
    """Score seeds 1..n-1 (``score_seed(cell) -> EvalResult``) and turn ``first``'s record (seed 0) into
    the pooled one, rewritten in place; nothing for a one-seed run."""
    from vleval.datasets.results import score_record_path, write_score
    from vleval.families.base import HEADLINE, family_of
    from vleval.stats.seeds import seed_pooled_headline

    others = seed_cells(bench, n)
    if not others:
        return
    results = [first, *(score_seed(cell) for cell in others)]
    seeds = seed_list(n)
    family = family_of(bench.card)
    metric = family.metric_of(bench.card)
    pooled = seed_pooled_headline(
        [r.rows for r in results],
        family.aggregate,
        HEADLINE,
        metric.unit_keys()[HEADLINE],
        seeds=seeds,
        seed=bootstrap_seed,
        headline_sums=lambda rows: family.row_sums(rows).get(HEADLINE),
        strata=metric.strata,
    )
    pool_record(first.record, [r.record for r in results], seeds, pooled.value, pooled.interval)
    path = score_record_path(bench.pred_file.with_suffix(""))
    if path is not None:
        write_score(path, first.record)


def pool_record(
    record: ScoreRecord,
    per_seed: Sequence[ScoreRecord],
    seeds: Sequence[int],
    value: float | None,
    interval: Any,
) -> None:
    """``record`` (seed 0's) becomes the seeds' pooled record: headline the mean, its interval the
    seed-and-question one, sub-scores and bounds the seeds' means, each seed's headline kept."""
    from vleval.stats.scores import HEADLINE

    headlines = [r.headline for r in per_seed]
    record.headline = value
    for name in list(record.metrics):
        found = [r.metrics.get(name) for r in per_seed]
        if all(v is not None for v in found):
            record.metrics[name] = sum(found) / len(found)  # type: ignore[arg-type]
    for seed, headline in zip(seeds, headlines, strict=True):
        if headline is not None:
            record.metrics[f"seed {seed}"] = headline
    # the questions-only intervals of seed 0 do not describe the mean; the pooled one replaces them
    own = [r.intervals.get(HEADLINE) for r in per_seed]
    if interval is not None and interval.low == interval.high and all(i is not None for i in own):
        # no spread to resample (every unit alike under every seed): the seeds' own intervals, joined
        interval = Interval(
            low=min(i.low for i in own),  # type: ignore[union-attr]
            high=max(i.high for i in own),  # type: ignore[union-attr]
            method=f"{interval.method}; zero width, so the union of the seeds' own intervals "
            f"({own[0].method})",  # type: ignore[union-attr]
            level=interval.level,
        )
    record.intervals = {HEADLINE: interval} if interval is not None else {}
    bounds = [r.bounds for r in per_seed]
    if all(b is not None for b in bounds):
        record.bounds = (
            sum(b[0] for b in bounds) / len(bounds),  # type: ignore[index]
            sum(b[1] for b in bounds) / len(bounds),  # type: ignore[index]
        )
    record.complete = all(r.complete for r in per_seed)
    shown = ", ".join(
        f"seed {s}: {'-' if h is None else f'{h:.2f}'}" for s, h in zip(seeds, headlines, strict=True)
    )
    record.notes.insert(
        0,
        f"mean over {len(seeds)} sampling seeds ({shown}); interval over questions and seeds "
        "(vleval.stats.seeds); sub-scores are the seeds' means; the rows file is seed "
        f"{seeds[0]}'s, the other seeds' are under {SEEDS_FOLDER}/seed<k>/ (vleval compare pairs them all)",
    )
    for seed, other in zip(seeds[1:], per_seed[1:], strict=True):
        record.notes.extend(f"seed {seed}: {note}" for note in other.notes)
    if record.settings is not None:
        record.settings = dataclasses.replace(record.settings, sampling_seeds=tuple(seeds))
