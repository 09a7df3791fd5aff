"""``vleval compare A B``: is B's score really different from A's?

Per benchmark both runs scored, the paired difference B - A on the rows both scored, with a paired
test on the scoring units (exact McNemar for right/wrong units, a paired bootstrap for graded ones),
its interval, Holm-adjusted p-values across the benchmarks, the units whose outcome flipped, and the
smallest difference the sample size could detect (the statistics: ``vleval.stats.compare``; this
module reads the two runs, pairs their benchmarks and prints the result). Reads only the result contract
(``<stem>_rows.jsonl``, ``<stem>_score.json``) and ``run.json``, through ``vleval.workdir``; the
flipped units' questions are the rows' own (the prediction file's for rows written before they
carried them). A benchmark run with several sampling seeds (``vleval run --seeds N``) is compared by
its seeds' mean, every seed's rows read (those of seeds 1.. under ``<model>/seeds/seed<k>/``).

Two runs are only comparable when they were made the same way: a different protocol, benchmark file
or CoT setting changes scores by itself, so ``compare_runs`` refuses such pairs unless told to allow
them (then the differences are listed first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vleval.console import step
from vleval.datasets.results import ROWS_SUFFIX, read_rows, read_score, rows_path, score_record_path
from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.settings import describe, differences, marks, settings_of, subset_text
from vleval.stats.compare import (
    BenchmarkComparison,
    StatisticFor,
    compare_benchmark,
    family_statistic,
)
from vleval.stats.core import DEFAULT_RESAMPLES, holm
from vleval.stats.seeds import aligned
from vleval.types import EvalSettings, RowResult, RunManifest, ScoreRecord
from vleval.workdir import folders_with_rows, prediction_file_of, read_manifest, rows_stems, seed_rows_files

TEXT_LIMIT = 300  # characters of a question or prediction shown per flipped row
# said under the table where a side has several sampling seeds (`vleval run --seeds N`)
SEEDS_NOTE = (
    "Seeds A/B: sampling seeds per side; where a side has several, its score is their mean and the "
    "interval also draws, per unit and side, one of that side's seeds (vleval.stats.seeds)."
)


# --------------------------------------------------------------------------------------------------
# Reading one side
# --------------------------------------------------------------------------------------------------
@dataclass
class ScoredBenchmark:
    record: ScoreRecord
    rows_path: Path
    stem: Path  # <model dir>/<model>_<dataset>


@dataclass
class RunSide:
    label: str  # as the user gave it
    model_dir: Path
    run: RunManifest | None  # run.json (None when absent, e.g. a loose folder `vleval eval` scored)
    benchmarks: dict[str, ScoredBenchmark]

    @property
    def model(self) -> str:
        recorded = self.run.model if self.run is not None else None
        return str((recorded.name if recorded is not None else None) or self.model_dir.name)

    def settings(self, dataset: str) -> EvalSettings:
        """How ``dataset`` was scored on this side (``vleval.settings``: the record's, else run.json's)."""
        return settings_of(self.benchmarks[dataset].record, self.run, dataset)


def model_dirs(path: Path) -> list[Path]:
    """``[path]`` when it holds results itself, else its model folders that do (a work directory)."""
    return folders_with_rows(path)


def resolve_model_dir(path: Path) -> Path:
    """``path`` itself when it holds results, else its one model folder."""
    models = model_dirs(path)
    if len(models) == 1:
        return models[0]
    if not models:
        raise DataMissingError(
            f"{path}: no scored benchmarks with per-row results (*{ROWS_SUFFIX}); run `vleval run` or "
            f"`vleval eval` first (results scored before per-row results existed: re-score with `vleval eval`)."
        )
    names = ", ".join(p.name for p in models)
    raise VlevalError(f"{path} holds several models ({names}): give one of them, e.g. {models[0]}.")


def model_pairs(dir_a: Path, dir_b: Path) -> list[tuple[Path, Path]]:
    """Model folders to compare: those of the same name in both, or the one model of each side."""
    models_a, models_b = model_dirs(dir_a), model_dirs(dir_b)
    by_name_b = {p.name: p for p in models_b}
    pairs = [(a, by_name_b[a.name]) for a in models_a if a.name in by_name_b]
    if not pairs and len(models_a) == 1 and len(models_b) == 1:
        pairs = [(models_a[0], models_b[0])]
    return pairs


def read_side(path: Path) -> RunSide:
    model_dir = resolve_model_dir(path)
    benchmarks: dict[str, ScoredBenchmark] = {}
    for stem in rows_stems(model_dir):
        score_file = score_record_path(stem)
        if score_file is not None:
            record = read_score(score_file)
            benchmarks[record.dataset] = ScoredBenchmark(record, rows_path(stem), stem)
    return RunSide(label=str(path), model_dir=model_dir, run=read_manifest(model_dir), benchmarks=benchmarks)


# --------------------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    a: RunSide
    b: RunSide
    benchmarks: list[BenchmarkComparison]
    differences: list[str]  # settings that differ (compared only with allow_different_settings)
    other_differences: list[str]
    only_a: list[str]
    only_b: list[str]
    seed: int
    resamples: int

    @property
    def seeded(self) -> bool:
        """Whether a side has several sampling seeds on some benchmark (then the output says how many)."""
        return any(c.seeds_a > 1 or c.seeds_b > 1 for c in self.benchmarks)

    def tally(self) -> dict[str, int]:
        verdicts = [c.verdict for c in self.benchmarks]
        return {v: verdicts.count(v) for v in ("better", "worse", "inconclusive")}

    @property
    def suite_line(self) -> str:
        t = self.tally()
        return f"B better on {t['better']}, worse on {t['worse']}, inconclusive on {t['inconclusive']}"


def subset_notes(comparison: Comparison) -> list[str]:
    """One line per benchmark scored on a ``--limit`` subset by either run."""
    notes = []
    for c in comparison.benchmarks:
        for side, name in ((comparison.a, "A"), (comparison.b, "B")):
            record = side.benchmarks[c.benchmark].record if c.benchmark in side.benchmarks else None
            if record is not None and record.subset is not None:
                notes.append(f"{c.benchmark} {name}: {subset_text(record.subset)}")
    return notes


def setting_differences(a: RunSide, b: RunSide, datasets: Sequence[str], decisive: bool = True) -> list[str]:
    """'CoT: A off, B on (MMStar, OCRBench)'-style lines, one per differing setting and values: the
    decisive ones (``vleval.settings.Setting.decisive``: not the same experiment), or the others."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for dataset in datasets:
        for d in differences(a.settings(dataset), b.settings(dataset), decisive=decisive):
            found.setdefault((d.label, d.a, d.b), []).append(dataset)
    return [f"{name}: A {va}, B {vb} ({', '.join(ds)})" for (name, va, vb), ds in found.items()]


def compare_runs(
    path_a: Path,
    path_b: Path,
    *,
    datasets: Sequence[str] | None = None,
    allow_different_settings: bool = False,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    statistic_for: StatisticFor = family_statistic,
) -> Comparison:
    a, b = read_side(path_a), read_side(path_b)
    common = sorted(set(a.benchmarks) & set(b.benchmarks))
    if datasets:
        unknown = [d for d in datasets if d not in common]
        if unknown:
            raise VlevalError(
                f"not scored in both runs: {', '.join(unknown)} (both have: {', '.join(common)})."
            )
        common = sorted(datasets)
    if not common:
        raise VlevalError(
            f"{a.model_dir} and {b.model_dir} share no scored benchmark "
            f"(A: {', '.join(sorted(a.benchmarks)) or 'none'}; B: {', '.join(sorted(b.benchmarks)) or 'none'})."
        )
    differences = setting_differences(a, b, common)
    if differences and not allow_different_settings:
        raise VlevalError(
            "the two runs were not made the same way, so their scores differ for that reason alone: "
            + "; ".join(differences)
            + ". Pass --allow-different-settings to compare them anyway."
        )
    comparisons = [
        _compare_benchmark(a, b, dataset, statistic_for, seed=seed, resamples=resamples) for dataset in common
    ]
    for comparison, adjusted in zip(comparisons, holm([c.paired.p_value for c in comparisons]), strict=True):
        comparison.p_adjusted = adjusted
    return Comparison(
        a=a,
        b=b,
        benchmarks=comparisons,
        differences=differences,
        other_differences=setting_differences(a, b, common, decisive=False),
        only_a=sorted(set(a.benchmarks) - set(b.benchmarks)),
        only_b=sorted(set(b.benchmarks) - set(a.benchmarks)),
        seed=seed,
        resamples=resamples,
    )


def _compare_benchmark(
    a: RunSide, b: RunSide, dataset: str, statistic_for: StatisticFor, *, seed: int, resamples: int
) -> BenchmarkComparison:
    side_a, side_b = a.benchmarks[dataset], b.benchmarks[dataset]
    step(f"comparing {dataset} (paired bootstrap, {resamples:,} resamples)")
    rows_a, rows_b = read_rows(side_a.rows_path), read_rows(side_b.rows_path)
    return compare_benchmark(
        dataset,
        side_a.record,
        rows_a,
        rows_b,
        statistic_for(dataset, side_a.record),
        lambda: _questions(rows_a, side_a.stem) or _questions(rows_b, side_b.stem),
        seed=seed,
        resamples=resamples,
        more_seeds_a=_other_seeds_rows(a, dataset, rows_a),
        more_seeds_b=_other_seeds_rows(b, dataset, rows_b),
    )


def _other_seeds_rows(side: RunSide, dataset: str, first: list[RowResult]) -> list[list[RowResult]]:
    """The rows of ``dataset``'s other sampling seeds on this side (``first``: its first seed's), those
    its settings record lists; none for a run of one seed. Seeds that scored other rows than the first
    cannot be averaged: refused in one line."""
    scored = side.benchmarks[dataset]
    others = [read_rows(path) for path in seed_rows_files(scored.stem, side.settings(dataset).sampling_seeds)]
    try:
        aligned([first, *others])
    except ValueError as exc:
        raise DataCorruptError(f"{scored.stem.name} in {side.model_dir}: {exc}") from None
    return others


def _questions(rows: Sequence[RowResult], stem: Path) -> dict[str, str]:
    """index -> question: the rows' own (``RowResult.question``), else, for rows scored before they
    carried it, from the prediction file beside the results (empty when it is absent)."""
    own = {str(r.index): r.question for r in rows if r.question is not None}
    if own:
        return own
    pred_file = prediction_file_of(stem)
    if pred_file is None:
        return {}
    from vleval.datasets.predictions import read_questions

    return read_questions(pred_file)


# --------------------------------------------------------------------------------------------------
# Text (the command's output) and JSON
# --------------------------------------------------------------------------------------------------
def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _clip(text: Any) -> str:
    shown = json.dumps("" if text is None else str(text), ensure_ascii=False)
    return shown if len(shown) <= TEXT_LIMIT else shown[: TEXT_LIMIT - 4] + '..."'


def _outcome(value: float) -> str:
    if math.isnan(value):
        return "not scored"
    return {1.0: "right", 0.0: "wrong"}.get(value, f"{value:.2f}")


def _row_outcome(row: RowResult) -> str:
    return "not scored" if row.score is None else _outcome(float(row.score))


def _side_line(tag: str, side: RunSide) -> str:
    described = side.model
    if side.benchmarks:
        settings = side.settings(next(iter(side.benchmarks)))
        described += f", {describe(settings)}"
        flagged = [m for name in side.benchmarks for m in marks(side.settings(name))]
        if flagged:
            described += f"; MARKED: {', '.join(dict.fromkeys(flagged))}"
        if side.run is not None:  # the run record says who made the predictions and who scored them
            origins: dict[str, list[str]] = {}
            for name in side.benchmarks:
                if origin := side.run.provenance(name):
                    origins.setdefault(origin, []).append(name)
            described += "".join(f"; {origin} ({', '.join(names)})" for origin, names in origins.items())
    return f"{tag}: {side.model_dir}  ({described})"


def render_text(comparison: Comparison, *, max_flips: int = 50) -> str:
    from vleval.families.base import scale_note  # the families know each benchmark's scale

    lines = [
        "vleval compare: is B different from A?",
        _side_line("A", comparison.a),
        _side_line("B", comparison.b),
    ]
    if comparison.differences:
        lines += ["", "SETTINGS DIFFER (compared anyway, --allow-different-settings):"]
        lines += [f"  {d}" for d in comparison.differences]
    if comparison.other_differences:
        lines += ["", "other differences:"] + [f"  {d}" for d in comparison.other_differences]
    header = (
        "benchmark",
        "units",
        "A",
        "B",
        "B - A",
        "95% interval",
        "p (Holm)",
        "verdict",
        "MDE 80%",
        "test",
    )
    if comparison.seeded:
        header = (*header[:2], "seeds A/B", *header[2:])
    table = [header]
    for c in comparison.benchmarks:
        p = c.paired
        interval = f"[{_num(p.interval.low, True)}, {_num(p.interval.high, True)}]" if p.interval else "-"
        seeds = (f"{c.seeds_a}/{c.seeds_b}",) if comparison.seeded else ()
        table.append(
            (
                c.benchmark,
                str(p.n_units),
                *seeds,
                _num(p.a),
                _num(p.b),
                _num(p.difference, True),
                interval,
                _p(c.p_adjusted),
                c.verdict,
                _num(p.mde),
                p.test,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines.append("")
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    lines += [f"  {note}" for note in subset_notes(comparison)]
    lines += [
        "",
        f"{comparison.suite_line} (Holm-adjusted p < 0.05 across {len(comparison.benchmarks)} benchmark(s)).",
        f"{scale_note()} Differences on the rows both runs scored; intervals: paired percentile "
        f"bootstrap over scoring units, {comparison.resamples} resamples, seed {comparison.seed}. MDE 80%: "
        f"the smallest |B - A| this sample size detects 80% of the time.",
    ]
    if comparison.seeded:
        lines.append(SEEDS_NOTE)
    for label, names in (("only in A", comparison.only_a), ("only in B", comparison.only_b)):
        if names:
            lines.append(f"{label} (not compared): {', '.join(names)}")
    flips = [f for c in comparison.benchmarks for f in c.flips]
    first_seeds = " between the first sampling seeds' rows" if comparison.seeded else ""
    lines += ["", f"Units with a changed row{first_seeds} (flips): {len(flips)}"]
    for flip in flips[:max_flips]:
        lines.append(
            f"- {flip.benchmark} unit {flip.unit}: A {_outcome(flip.a_value)} -> B {_outcome(flip.b_value)}"
        )
        for row in flip.rows:
            lines.append(f"    index {row.index}  question {_clip(row.question)}")
            for tag, side in (("A", row.a), ("B", row.b)):
                lines.append(
                    f"      {tag}: {_row_outcome(side)}  prediction {_clip(side.prediction)}  "
                    f"extracted {_clip(side.extracted)}"
                )
    if len(flips) > max_flips:
        lines.append(f"... {len(flips) - max_flips} more (--flips N shows more; --json FILE has all)")
    return "\n".join(lines) + "\n"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    from vleval.datasets.results import plain

    return plain(
        {
            "a": {"dir": str(comparison.a.model_dir), "model": comparison.a.model},
            "b": {"dir": str(comparison.b.model_dir), "model": comparison.b.model},
            "setting_differences": comparison.differences,
            "other_differences": comparison.other_differences,
            "suite": comparison.tally(),
            "seed": comparison.seed,
            "resamples": comparison.resamples,
            "benchmarks": [
                {
                    "benchmark": c.benchmark,
                    "rows_a": c.n_rows_a,
                    "rows_b": c.n_rows_b,
                    "seeds_a": c.seeds_a,
                    "seeds_b": c.seeds_b,
                    "paired": c.paired,
                    "p_adjusted": c.p_adjusted,
                    "verdict": c.verdict,
                    "flips": c.flips,
                }
                for c in comparison.benchmarks
            ],
            "only_a": comparison.only_a,
            "only_b": comparison.only_b,
        }
    )
