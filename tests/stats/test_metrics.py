"""The named metrics (``vleval.stats.metrics``): each one's value and interval on rows a user would
recognise (an MMBench question with one wrong rotation, MM-Vet's half grades, OCRBench's points,
LLaVA-Bench's relative score, HallusionBench's three accuracies), and what each tells the statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from vleval.families.base import all_families
from vleval.stats.metrics import MeanGrade, MeanOfSubMetrics, Metric, PointSum, RatioOfMeans, ShareRight
from vleval.stats.scores import HEADLINE, score_uncertainty
from vleval.types import RowResult

EXACT = "exact binomial (Clopper-Pearson)"


def uncertainty(rows, metric: Metric, metrics=(), **kwargs):
    """The intervals scoring gives a benchmark whose family picked ``metric``."""
    return score_uncertainty(
        rows, metric.values, HEADLINE, metrics, metric=metric, sums=metric.row_sums(rows), **kwargs
    )


def clopper_pearson(right: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(right, n).proportion_ci(confidence_level=0.95, method="exact")
    return ci.low, ci.high


def circular(outcomes: list[list[float | None]]) -> list[RowResult]:
    """MMBench-like rows: question q's rotations (index q + k x 1e6) with the given scores; None: the
    rotation was never examined (the reference stops at the first wrong one)."""
    return [
        RowResult(
            index=q + k * 1_000_000,
            unit=str(q),
            score=score,
            decided_by="skipped" if score is None else "rule",
        )
        for q, scores in enumerate(outcomes)
        for k, score in enumerate(scores)
    ]


# --------------------------------------------------------------------------------------------------
# ShareRight
# --------------------------------------------------------------------------------------------------
def test_a_circular_question_with_one_wrong_rotation_counts_wrong():
    rows = circular([[1, 1, 1, 1], [1, 1, 0, None], [0, None, None, None], [1, 1, 1, 1]])
    metric = ShareRight()
    assert metric.values(rows) == {HEADLINE: 50.0}  # questions 0 and 3 of 4
    assert metric.counts_right_units(rows) and not metric.graded
    found = uncertainty(rows, metric).intervals[HEADLINE]
    # exact over the 4 questions (not the 13 examined rows, which are not independent)
    assert found.method.startswith(EXACT) and "2 of 4 scoring units right" in found.method
    low, high = clopper_pearson(2, 4)
    assert (found.low, found.high) == pytest.approx((100 * low, 100 * high))


def test_a_share_of_rows_is_bounded_by_clopper_pearson_and_cross_checked():
    rows = [RowResult(index=i, unit=str(i), score=float(i % 4 != 0), decided_by="rule") for i in range(20)]
    metric = ShareRight(over="row")
    assert metric.value(rows) == 75.0
    found = uncertainty(rows, metric).intervals[HEADLINE]
    low, high = clopper_pearson(15, 20)
    assert (found.low, found.high) == pytest.approx((100 * low, 100 * high))
    # without the sums the headline gets the bootstrap, and the metric's exact cross-check beside it
    plain = score_uncertainty(rows, metric.values, HEADLINE, metric=metric, resamples=200).intervals
    assert plain[HEADLINE].method.startswith("percentile bootstrap")
    assert (plain["headline:exact"].low, plain["headline:exact"].high) == pytest.approx(
        (100 * low, 100 * high)
    )


def test_a_share_over_rows_sharing_a_unit_is_not_a_count_of_units():
    rows = [RowResult(index=i, unit=str(i // 2), score=1.0, decided_by="rule") for i in range(6)]
    assert not ShareRight(over="row").counts_right_units(rows)  # McNemar would count 3 units, not 6 rows
    assert ShareRight(over="unit").counts_right_units(rows)


def test_only_the_reported_split_counts():
    """MMMU_DEV_VAL reports its validation split: dev rows do not move the value, and a share of one
    split's units is not a share of all units (no McNemar, no plain exact interval over all rows)."""
    metric = ShareRight(split="split", preferred_split="validation")
    dev = [
        RowResult(index=i, unit=str(i), score=1.0, decided_by="rule", groups={"split": "dev"})
        for i in range(5)
    ]
    val = [
        RowResult(index=10 + i, unit=str(10 + i), score=float(i < 1), decided_by="rule", groups={"split": "validation"})
        for i in range(4)
    ]  # fmt: skip
    assert metric.value(dev + val) == 25.0
    assert metric.value(dev) == 100.0  # no validation units: the first split
    assert not metric.counts_right_units(dev + val) and metric.counts_right_units(val)
    found = uncertainty(dev + val, metric).intervals
    assert "1 of 4 scoring units right" in found[HEADLINE].method and "headline:exact" not in found
    # a resample without validation units reports dev, as the value does
    sums = metric.row_sums(dev + val)[HEADLINE]
    assert sums.combine(sums.columns[:5].sum(axis=0, keepdims=True))[0] == 100.0


def test_graded_scores_are_not_counted_as_right_units():
    rows = [RowResult(index=i, unit=str(i), score=0.5, decided_by="judge") for i in range(4)]
    assert not ShareRight().counts_right_units(rows)


# --------------------------------------------------------------------------------------------------
# MeanGrade
# --------------------------------------------------------------------------------------------------
def test_mm_vet_half_grades_mean_fifty():
    rows = [RowResult(index=i, unit=str(i), score=0.5, decided_by="judge") for i in range(8)]
    rows.append(RowResult(index=8, unit="8", score=None, decided_by="failed"))  # not graded: left out
    metric = MeanGrade()
    assert metric.value(rows) == 50.0 and metric.graded and metric.best_row_score == 1.0
    assert not metric.counts_right_units(rows) and metric.is_unit_mean(rows)
    found = uncertainty(rows, metric).intervals[HEADLINE]
    # every grade the same: no bootstrap spread, never a zero-width interval
    assert found.method.startswith("Wilson score interval") and found.low < 50 < found.high


def test_mean_grade_bootstrap_and_censoring_bounds():
    grades = [0.0, 0.3, 0.5, 0.8, 1.0] * 8
    rows = [RowResult(index=i, unit=str(i), score=g, decided_by="judge") for i, g in enumerate(grades)]
    rows[0] = dataclasses.replace(rows[0], decided_by="fallback", score=0.0)  # censored
    metric = MeanGrade()
    assert metric.value(rows) == pytest.approx(52.0)
    found = uncertainty(rows, metric, resamples=300)
    assert found.intervals[HEADLINE].method.startswith("percentile bootstrap")
    assert found.intervals[HEADLINE].low < 52 < found.intervals[HEADLINE].high
    assert found.bounds == pytest.approx((52.0, 52.0 + 100 / 40))  # the censored row at 0 ... at 1


# --------------------------------------------------------------------------------------------------
# PointSum
# --------------------------------------------------------------------------------------------------
def test_ocrbench_points():
    rows = [
        RowResult(index=i, unit=str(i), score=float(i % 3 == 0), decided_by="rule", category="Doc" if i < 9 else "Key")
        for i in range(30)
    ]  # fmt: skip
    metric = PointSum(divisor=10)
    assert metric.value(rows) == 1.0  # 10 points / 10
    assert metric.category_unit == "points" and not metric.counts_right_units(rows)
    found = uncertainty(rows, metric).intervals[HEADLINE]
    # exact, in points / 10: 30 rows' count of right ones
    low, high = clopper_pearson(10, 30)
    assert found.method.startswith(EXACT) and (found.low, found.high) == pytest.approx((3 * low, 3 * high))
    doc = [r for r in rows if r.category == "Doc"]
    assert metric.category_value(doc) == 3.0  # a category's value is its raw points
    sums = metric.category_sums(rows, {"Doc": doc})["Doc"]
    assert sums.value() == 3.0


# --------------------------------------------------------------------------------------------------
# RatioOfMeans
# --------------------------------------------------------------------------------------------------
def test_llava_relative_score_and_its_bounds_above_100():
    rows = [
        RowResult(index=0, unit="0", score=7.0, decided_by="judge", extra={"gpt4_score": 9.0}),
        RowResult(index=1, unit="1", score=5.0, decided_by="fallback", extra={"gpt4_score": 8.0}),
    ]
    metric = RatioOfMeans()
    assert metric.value(rows) == 70.6  # 6 / 8.5, to 1 decimal as the reference's table
    assert metric.graded and metric.best_row_score == 10.0 and not metric.is_unit_mean(rows)
    found = uncertainty(rows, metric)
    # the censored row graded 0 ... 10: the score may pass GPT-4's (100)
    assert found.bounds == (41.2, 100.0)
    better = [dataclasses.replace(r, score=10.0) for r in rows]
    assert metric.value(better) == 117.6


# --------------------------------------------------------------------------------------------------
# MeanOfSubMetrics
# --------------------------------------------------------------------------------------------------
HALLUSION = MeanOfSubMetrics(
    parts=(
        ("aAcc", ShareRight(over="row")),
        ("fAcc", ShareRight(over="figure")),
        ("qAcc", ShareRight(over="unit")),
    )
)


def hallusion_rows(scores: list[float]) -> list[RowResult]:
    """Row i: question group i // 2, figure group i % 2 + 2 x (i // 4)."""
    return [
        RowResult(index=i, unit=f"q{i // 2}", score=s, decided_by="rule", groups={"figure": f"f{i % 2 + 2 * (i // 4)}"})
        for i, s in enumerate(scores)
    ]  # fmt: skip


def test_hallusion_mean_of_three_accuracies_over_their_own_units():
    rows = hallusion_rows([1, 1, 1, 0, 1, 1, 1, 1])
    values = HALLUSION.values(rows)
    # rows 7 of 8; figures f0 (rows 0, 2), f1 (1, 3: wrong), f2, f3: 3 of 4; questions q1 wrong: 3 of 4
    assert values == {HEADLINE: pytest.approx((87.5 + 75 + 75) / 3), "aAcc": 87.5, "fAcc": 75.0, "qAcc": 75.0}
    assert HALLUSION.unit_keys(["aAcc", "fAcc", "qAcc"]) == {
        "aAcc": ("unit",),
        "fAcc": ("figure",),
        "qAcc": ("unit",),
        HEADLINE: ("unit", "figure"),
    }
    assert not HALLUSION.counts_right_units(rows) and not HALLUSION.is_unit_mean(rows)
    found = uncertainty(rows, HALLUSION, ["aAcc", "fAcc", "qAcc"], resamples=200).intervals
    assert found["fAcc"].method == f"{EXACT}, 3 of 4 figure groups right"  # each sub-metric: its units
    assert found["qAcc"].method == f"{EXACT}, 3 of 4 scoring units right"
    assert "connected scoring units and figure groups" in found[HEADLINE].method


# --------------------------------------------------------------------------------------------------
# every metric: its sums are its values
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "rows"),
    [
        (ShareRight(), circular([[1, 1, 0, None], [1, 1, 1, 1], [1, 1]] * 5)),
        (ShareRight(over="row"), [RowResult(i, str(i), float(i % 3 > 0), "rule") for i in range(31)]),
        (MeanGrade(), [RowResult(i, str(i), (i % 11) / 10, "judge") for i in range(37)]),
        (PointSum(divisor=10), [RowResult(i, str(i), float(i % 4 == 0), "rule") for i in range(41)]),
        (
            RatioOfMeans(),
            [RowResult(i, str(i), float(i % 9 + 1), "judge", extra={"gpt4_score": 8.0}) for i in range(23)],
        ),
        (HALLUSION, hallusion_rows([float(i % 5 > 0) for i in range(40)])),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Metric) else "",
)
def test_row_sums_give_the_values_to_the_last_bit(metric, rows):
    values = metric.values(rows)
    sums = metric.row_sums(rows)
    assert set(sums) == set(values)
    for name, found in sums.items():
        assert found.value() == values[name], name
    # and on a part of the units (a resample never splits one)
    part = [r for r in rows if r.unit not in {rows[0].unit, rows[-1].unit}]
    for name, found in metric.row_sums(part).items():
        assert found.value() == metric.values(part)[name] or np.isnan(found.value()), name


def test_every_family_picks_a_metric_from_the_library():
    for family in all_families().values():
        assert isinstance(family.metric, Metric), family.name
        assert type(family.metric).__module__ == "vleval.stats.metrics", family.name
