"""`vleval compare` of sampled runs with several seeds (`vleval run --seeds N`): each side's score is its
seeds' mean and the interval resamples the seeds too; a run of one seed compares as it always has.
The sides are written by the real result writers in the layout `--seeds` leaves (`runner.seeds`:
seed 0's files in the model folder, seed k's under `seeds/seed<k>/`, seed 0's record pooled)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.results import write_rows, write_score
from vleval.errors import DataCorruptError, DataMissingError
from vleval.families.base import HEADLINE
from vleval.runner.seeds import pool_record, seed_pred_file
from vleval.stats.compare import HeadlineStatistic, share_of_right_units
from vleval.stats.metrics import ShareRight
from vleval.stats.seeds import seed_pooled_headline
from vleval.types import EvalSettings, RowResult, ScoreRecord
from vleval.workflows.compare import compare_runs, comparison_json, render_text

RESAMPLES = 400
# 40 questions; A's seeds disagree (80% and 40% right), B's too (60% and 80%): seed means 60 and 70
A_SEEDS = ([1, 1, 1, 1, 0] * 8, [1, 0, 1, 0, 0] * 8)
B_SEEDS = ([1, 1, 1, 0, 0] * 8, [1, 1, 0, 1, 1] * 8)


def share(dataset, record):
    return HeadlineStatistic(share_of_right_units, metric=ShareRight())


def _rows(scores: list[int]) -> list[RowResult]:
    return [
        RowResult(index=i, unit=str(i), score=float(s), decided_by="rule", extracted="A" if s else "B", answer="A")
        for i, s in enumerate(scores)
    ]  # fmt: skip


def write_seeded_run(
    root: Path, seeds: tuple[list[int], ...], *, model: str = "M", dataset: str = "MMStar"
) -> Path:
    """One model folder scored on ``dataset`` with one sampling seed per entry of ``seeds``, as
    `vleval run --seeds N` leaves it: each seed's rows and record in its folder, seed 0's record pooled."""
    model_dir = root / model
    pred_file = model_dir / f"{model}_{dataset}.xlsx"
    numbers = tuple(range(len(seeds)))
    records, rows_by_seed = [], []
    for number, scores in zip(numbers, seeds, strict=True):
        stem = seed_pred_file(pred_file, number).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        rows = _rows(scores)
        write_rows(stem.with_name(stem.name + "_rows.jsonl"), rows)
        record = ScoreRecord(
            dataset=dataset, protocol="2024.12", headline_name="Overall", headline=100.0 * sum(scores) / len(scores),
            settings=EvalSettings(protocol="2024.12", cot=False, sampling_seeds=(number,)),
        )  # fmt: skip
        write_score(stem.with_name(stem.name + "_score.json"), record)
        records.append(record)
        rows_by_seed.append(rows)
    if len(seeds) > 1:  # as runner.seeds.pool_seed_results rewrites seed 0's record
        pooled = seed_pooled_headline(
            rows_by_seed, lambda r: {HEADLINE: share_of_right_units(r)}, HEADLINE, ("unit",), seeds=numbers
        )
        pool_record(records[0], records, numbers, pooled.value, pooled.interval)
        write_score(model_dir / f"{model}_{dataset}_score.json", records[0])
    (model_dir / "run.json").write_text(
        json.dumps({"protocol": {"name": "2024.12"}, "model": {"name": model}})
    )
    return model_dir


def _mean(scores: tuple[list[int], ...]) -> float:
    return sum(100.0 * sum(s) / len(s) for s in scores) / len(scores)


def _width(comparison) -> float:
    interval = comparison.benchmarks[0].paired.interval
    return interval.high - interval.low


def test_two_seeds_against_two_seeds_compare_the_seed_means_with_a_wider_interval(tmp_path):
    a = write_seeded_run(tmp_path / "a", A_SEEDS)
    b = write_seeded_run(tmp_path / "b", B_SEEDS)
    comparison = compare_runs(a, b, statistic_for=share, resamples=RESAMPLES)
    mmstar = comparison.benchmarks[0]
    assert (mmstar.seeds_a, mmstar.seeds_b) == (2, 2)
    assert mmstar.paired.a == pytest.approx(_mean(A_SEEDS)) and mmstar.paired.b == pytest.approx(
        _mean(B_SEEDS)
    )
    assert mmstar.paired.difference == pytest.approx(_mean(B_SEEDS) - _mean(A_SEEDS))  # +10, not seed 0's -20
    # the same runs with their first seed only: the paired comparison of seed 0's rows as before
    first_only = compare_runs(
        write_seeded_run(tmp_path / "a0", A_SEEDS[:1]), write_seeded_run(tmp_path / "b0", B_SEEDS[:1]),
        statistic_for=share, resamples=RESAMPLES,
    )  # fmt: skip
    assert first_only.benchmarks[0].paired.difference == pytest.approx(-20.0)
    assert _width(comparison) > _width(first_only)
    assert "one of its seeds (sampling seeds A 2, B 2)" in mmstar.paired.interval.method
    assert mmstar.paired.test.startswith("paired bootstrap")  # McNemar's units have one outcome per run
    text = render_text(comparison)
    assert "seeds A/B" in text.splitlines()[4] and " 2/2 " in text
    assert "Seeds A/B: sampling seeds per side" in text
    data = comparison_json(comparison)["benchmarks"][0]
    assert (data["seeds_a"], data["seeds_b"]) == (2, 2)


def test_each_side_uses_its_own_number_of_seeds(tmp_path):
    a = write_seeded_run(tmp_path / "a", A_SEEDS)
    b = write_seeded_run(tmp_path / "b", B_SEEDS[:1])
    mmstar = compare_runs(a, b, statistic_for=share, resamples=RESAMPLES).benchmarks[0]
    assert (mmstar.seeds_a, mmstar.seeds_b) == (2, 1)
    assert mmstar.paired.difference == pytest.approx(60.0 - _mean(A_SEEDS))
    assert "sampling seeds A 2, B 1" in mmstar.paired.test


def test_one_seed_compares_exactly_as_before(tmp_path):
    """A sampled run of one seed: the same numbers, bytes and text as a greedy run's comparison."""
    seeded = compare_runs(
        write_seeded_run(tmp_path / "a", A_SEEDS[:1]), write_seeded_run(tmp_path / "b", B_SEEDS[:1]),
        statistic_for=share, resamples=RESAMPLES,
    )  # fmt: skip
    rows_a, rows_b = _rows(A_SEEDS[0]), _rows(B_SEEDS[0])
    from vleval.stats.core import paired_comparison

    greedy = paired_comparison(
        rows_a, rows_b, share_of_right_units, keys=("unit",), mcnemar=True, resamples=RESAMPLES, seed=0,
    )  # fmt: skip
    assert seeded.benchmarks[0].paired == greedy
    assert (seeded.benchmarks[0].seeds_a, seeded.benchmarks[0].seeds_b) == (1, 1)
    assert "seeds A/B" not in render_text(seeded)


def test_a_pooled_run_without_its_seeds_folder_is_refused_in_one_line(tmp_path, capsys):
    a = write_seeded_run(tmp_path / "a", A_SEEDS)
    b = write_seeded_run(tmp_path / "b", B_SEEDS)
    (b / "seeds" / "seed1" / "M_MMStar_rows.jsonl").unlink()
    with pytest.raises(DataMissingError, match="mean of sampling seeds 0, 1.*copy the run's seeds/ folder"):
        compare_runs(a, b, statistic_for=share, resamples=50)
    assert main(["compare", str(a), str(b), "--resamples", "50"]) == 2
    err = capsys.readouterr().err
    assert "seeds/ folder" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_seeds_that_scored_other_rows_are_refused(tmp_path):
    a = write_seeded_run(tmp_path / "a", A_SEEDS)
    b = write_seeded_run(tmp_path / "b", B_SEEDS)
    write_rows(b / "seeds" / "seed1" / "M_MMStar_rows.jsonl", _rows(B_SEEDS[1][:-1]))
    with pytest.raises(DataCorruptError, match="M_MMStar.*seeds cannot be pooled"):
        compare_runs(a, b, statistic_for=share, resamples=50)


def test_the_report_page_says_how_many_seeds_each_side_has(tmp_path):
    from vleval.report.paired import paired_comparisons, paired_section

    write_seeded_run(tmp_path / "a", A_SEEDS)
    write_seeded_run(tmp_path / "b", B_SEEDS[:1])
    comparisons, problems = paired_comparisons(tmp_path / "a", tmp_path / "b")
    assert problems == []
    page = paired_section(comparisons, problems)
    assert '<td data-role="paired-seeds">2/1</td>' in page and "seeds A/B</th>" in page
    # B's one seed (60) against A's seed mean (60), through the benchmark family's own headline
    assert 'data-role="paired-diff">+0.00<' in page
