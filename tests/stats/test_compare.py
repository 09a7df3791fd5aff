"""The paired statistics of `vleval compare` on rows in memory: no work dir, no file read."""

from __future__ import annotations

import pytest

from vleval.stats.compare import HeadlineStatistic, compare_benchmark, share_of_right_units
from vleval.stats.metrics import MeanGrade, ShareRight
from vleval.types import RowResult, ScoreRecord

RECORD = ScoreRecord(dataset="MMStar", protocol="2024.12", headline_name="Overall", headline=50.0)
A = [1] * 10 + [0] * 10
B = [0, 0, 0] + [1] * 7 + [0] * 5 + [1] * 5  # rows 0-2 lost, 15-19 gained


def rows(scores: list[int]) -> list[RowResult]:
    return [
        RowResult(index=i, unit=str(i), score=s, decided_by="rule", extracted="A" if s else "B", answer="A")
        for i, s in enumerate(scores)
    ]


def never_asked() -> dict[str, str]:
    raise AssertionError("the questions were read although no unit flipped")


def test_flips_mcnemar_and_the_questions_of_the_flipped_rows() -> None:
    comparison = compare_benchmark(
        "MMStar", RECORD, rows(A), rows(B), HeadlineStatistic(share_of_right_units, metric=ShareRight()),
        lambda: {str(i): f"question {i}?" for i in range(20)}, seed=0, resamples=200,
    )  # fmt: skip
    assert comparison.paired.difference == pytest.approx(10.0)
    assert comparison.paired.test.startswith("exact McNemar")
    assert (comparison.paired.a_only, comparison.paired.b_only) == (3, 5)
    assert [f.unit for f in comparison.flips] == ["0", "1", "2", "15", "16", "17", "18", "19"]
    assert (comparison.flips[0].a_value, comparison.flips[0].b_value) == (1.0, 0.0)
    assert comparison.flips[-1].rows[0].question == "question 19?"
    assert (comparison.n_rows_a, comparison.n_rows_b) == (20, 20)
    # the verdict waits for the adjustment across benchmarks
    assert comparison.verdict == "not compared"
    comparison.p_adjusted = 0.01
    assert comparison.verdict == "better"


def test_identical_rows_flip_nothing_and_read_no_questions() -> None:
    comparison = compare_benchmark(
        "MMStar", RECORD, rows(A), rows(A), HeadlineStatistic(share_of_right_units, metric=MeanGrade()),
        never_asked, seed=0, resamples=50,
    )  # fmt: skip
    assert comparison.flips == []
    assert comparison.paired.difference == 0
    assert comparison.paired.test.startswith("paired bootstrap")  # a graded metric: no McNemar
