"""`compare_runs` on model folders written by the real result writers, with a known set of flips."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vleval.datasets.results import write_rows, write_score
from vleval.errors import VlevalError
from vleval.stats.compare import HeadlineStatistic
from vleval.stats.compare import share_of_right_units as share_of_units
from vleval.stats.metrics import MeanGrade, PointSum, ShareRight
from vleval.types import RowResult, ScoreRecord
from vleval.workflows.compare import compare_runs, comparison_json, render_text


def share_of_right_units(dataset, record):
    return HeadlineStatistic(share_of_units, metric=ShareRight())


def write_model_dir(root: Path, model: str, outcomes: dict[str, list[int]], *, cot=False, protocol="2024.12"):
    model_dir = root / model
    model_dir.mkdir(parents=True)
    datasets = {}
    for dataset, scores in outcomes.items():
        stem = model_dir / f"{model}_{dataset}"
        rows = [
            RowResult(
                index=i,
                unit=str(i),
                score=s,
                decided_by="rule",
                extracted="A" if s else "B",
                answer="A",
                prediction=f"answer {'A' if s else 'B'}",
            )
            for i, s in enumerate(scores)
        ]
        write_rows(stem.with_name(stem.name + "_rows.jsonl"), rows)
        record = ScoreRecord(
            dataset=dataset,
            protocol=protocol,
            headline_name="Overall",
            headline=100.0 * sum(scores) / len(scores),
        )
        write_score(stem.with_name(stem.name + "_score.json"), record)
        pd.DataFrame(
            {"index": range(len(scores)), "question": [f"question {i}?" for i in range(len(scores))]}
        ).to_excel(stem.with_suffix(".xlsx"), index=False)
        datasets[dataset] = {"tsv_md5": "abc"}
    run = {
        "protocol": {"name": protocol},
        "model": {"name": model},
        "settings": {"cot": cot},
        "datasets": datasets,
    }
    (model_dir / "run.json").write_text(json.dumps(run))
    return model_dir


A_MMSTAR = [1] * 10 + [0] * 10
B_MMSTAR = [0, 0, 0] + [1] * 7 + [0] * 5 + [1] * 5  # rows 0-2 lost, 15-19 gained
AI2D = [1, 0] * 30  # identical in both


@pytest.fixture()
def two_runs(tmp_path):
    write_model_dir(tmp_path / "a", "M", {"MMStar": A_MMSTAR, "AI2D_TEST": AI2D})
    b = write_model_dir(tmp_path / "b", "M", {"MMStar": B_MMSTAR, "AI2D_TEST": AI2D})
    return tmp_path / "a", b


def test_known_flips_and_mcnemar(two_runs):
    a, b = two_runs
    comparison = compare_runs(a, b, statistic_for=share_of_right_units, resamples=300)
    by_name = {c.benchmark: c for c in comparison.benchmarks}
    mmstar = by_name["MMStar"]
    assert mmstar.paired.difference == pytest.approx(10.0)
    assert (mmstar.paired.a_only, mmstar.paired.b_only) == (3, 5)
    assert [f.unit for f in mmstar.flips] == ["0", "1", "2", "15", "16", "17", "18", "19"]
    flip = mmstar.flips[0]
    assert (flip.a_value, flip.b_value) == (1.0, 0.0)
    assert flip.rows[0].question == "question 0?"
    assert (flip.rows[0].a.extracted, flip.rows[0].b.extracted) == ("A", "B")
    ai2d = by_name["AI2D_TEST"]
    assert ai2d.flips == [] and ai2d.paired.p_value == 1.0 and ai2d.paired.mde > 0
    # Holm over two tests: the smaller p doubled
    assert mmstar.p_adjusted == pytest.approx(min(1.0, 2 * mmstar.paired.p_value))
    assert comparison.suite_line == "B better on 0, worse on 0, inconclusive on 2"
    text = render_text(comparison)
    assert "MMStar unit 0: A right -> B wrong" in text and '"question 0?"' in text


def test_clear_difference_is_called(tmp_path):
    a = write_model_dir(tmp_path / "a", "M", {"MMStar": [0] * 40})
    b = write_model_dir(tmp_path / "b", "M", {"MMStar": [1] * 30 + [0] * 10})
    comparison = compare_runs(a, b, statistic_for=share_of_right_units, resamples=200)
    assert comparison.benchmarks[0].verdict == "better"
    assert comparison.suite_line == "B better on 1, worse on 0, inconclusive on 0"


def test_refuses_different_settings_unless_allowed(tmp_path):
    a = write_model_dir(tmp_path / "a", "M", {"MMStar": A_MMSTAR})
    b = write_model_dir(tmp_path / "b", "M", {"MMStar": B_MMSTAR}, cot=True, protocol="2026.08")
    with pytest.raises(VlevalError) as caught:
        compare_runs(a, b, statistic_for=share_of_right_units, resamples=50)
    message = str(caught.value)
    assert "CoT: A off, B on (MMStar)" in message and "protocol: A 2024.12, B 2026.08" in message
    assert "--allow-different-settings" in message
    comparison = compare_runs(
        a, b, statistic_for=share_of_right_units, resamples=50, allow_different_settings=True
    )
    assert "SETTINGS DIFFER" in render_text(comparison)


def test_two_models_of_one_work_dir_and_ambiguous_work_dir(tmp_path):
    write_model_dir(tmp_path, "M1", {"MMStar": A_MMSTAR})
    write_model_dir(tmp_path, "M2", {"MMStar": B_MMSTAR})
    comparison = compare_runs(
        tmp_path / "M1", tmp_path / "M2", statistic_for=share_of_right_units, resamples=50
    )
    assert (comparison.a.model, comparison.b.model) == ("M1", "M2")
    with pytest.raises(VlevalError, match="several models"):
        compare_runs(tmp_path, tmp_path / "M2", statistic_for=share_of_right_units)


def test_same_inputs_same_output(two_runs):
    a, b = two_runs
    first = compare_runs(a, b, statistic_for=share_of_right_units, resamples=200, seed=4)
    again = compare_runs(a, b, statistic_for=share_of_right_units, resamples=200, seed=4)
    assert render_text(first) == render_text(again)
    assert json.dumps(comparison_json(first)) == json.dumps(comparison_json(again))


def test_graded_or_non_share_headlines_get_the_paired_bootstrap(two_runs):
    a, b = two_runs

    def points(dataset, record):  # OCRBench-like: a sum of points, not a share
        return HeadlineStatistic(lambda rows: sum(r.score for r in rows) / 10, metric=PointSum(divisor=10))

    def graded(dataset, record):
        return HeadlineStatistic(share_of_units, metric=MeanGrade())

    for statistic_for in (points, graded):
        comparison = compare_runs(a, b, statistic_for=statistic_for, resamples=100)
        assert all(c.paired.test.startswith("paired bootstrap") for c in comparison.benchmarks)


def test_runs_wrong_everywhere_do_not_pass_for_a_share_by_coincidence(tmp_path):
    # an OCRBench-like point sum equals the share of right units (0) when every row is wrong: the
    # metric, not the values, says which test applies
    a = write_model_dir(tmp_path / "a", "M", {"OCRBench": [0] * 10})
    b = write_model_dir(tmp_path / "b", "M", {"OCRBench": [0] * 10})

    def points(dataset, record):
        return HeadlineStatistic(lambda rows: sum(r.score for r in rows) / 10, metric=PointSum(divisor=10))

    comparison = compare_runs(a, b, statistic_for=points, resamples=50)
    assert comparison.benchmarks[0].paired.test.startswith("paired bootstrap")
    # while the share of right units itself still gets McNemar when everything is wrong
    comparison = compare_runs(a, b, statistic_for=share_of_right_units, resamples=50)
    assert comparison.benchmarks[0].paired.test.startswith("exact McNemar")


def test_flipped_rows_show_the_question_their_rows_carry_without_the_prediction_file(tmp_path):
    """Rows written with their question: compare shows it even where the prediction file is gone."""
    from vleval.datasets.results import read_rows

    sides = [write_model_dir(tmp_path / side, "M", {"MMStar": scores}) for side, scores in
             (("a", A_MMSTAR), ("b", B_MMSTAR))]  # fmt: skip
    for model_dir in sides:
        rows_file = model_dir / "M_MMStar_rows.jsonl"
        rows = read_rows(rows_file)
        for row in rows:
            row.question = f"carried {row.index}?"
        write_rows(rows_file, rows)
        (model_dir / "M_MMStar.xlsx").unlink()
    comparison = compare_runs(*sides, statistic_for=share_of_right_units, resamples=100)
    assert [r.question for f in comparison.benchmarks[0].flips for r in f.rows][:2] == ["carried 0?", "carried 1?"]
