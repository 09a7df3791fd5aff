"""Intervals that are honest at the edges (issue 18, item 5): never zero-width at 0/n, n/n or on a
handful of units; shown as [low, high] where lopsided; on the benchmark's own scale."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))  # interval_cases (tests use --import-mode=importlib)

from interval_cases import CASES, case_id, score_case  # noqa: E402

from vleval.families.base import HEADLINE, family_of, scale_note  # noqa: E402
from vleval.report.format import interval_hover, score_text  # noqa: E402
from vleval.stats.scores import CATEGORY_PREFIX, score_uncertainty  # noqa: E402
from vleval.types import Interval, RowResult, ScoreRecord  # noqa: E402

EXACT = "exact binomial (Clopper-Pearson)"


def record(headline: float, low: float, high: float, dataset: str = "MMStar") -> ScoreRecord:
    return ScoreRecord(
        dataset=dataset,
        protocol="2024.12",
        headline_name="Overall",
        headline=headline,
        intervals={HEADLINE: Interval(low=low, high=high, method="percentile bootstrap over 8 rows")},
    )


def test_a_lopsided_interval_is_shown_as_its_bounds():
    assert score_text(record(12.5, 0.0, 37.5)) == "12.50 [0.00, 37.50]"  # never "12.50 ± 18.75"
    assert score_text(record(75.0, 60.0, 90.0)) == "75.00 ± 15.00"  # symmetric: the half-width says it
    assert score_text(record(100.0, 63.06, 100.0)) == "100.00 [63.06, 100.00]"
    hover = interval_hover(Interval(low=0.0, high=36.94, method="m"), 0.0)
    assert hover.startswith(" [0.00, 36.94] (95% interval; m)")


def test_bounds_stay_on_the_benchmarks_scale_and_say_which():
    """LLaVA-Bench's relative score exceeds 100 when the model is graded above GPT-4: the bounds are
    not clipped, and no caption claims a 0-100 scale."""
    assert score_text(record(118.8, 104.2, 131.0, "LLaVABench")) == "118.80 [104.20, 131.00]"
    note = scale_note()
    assert "0-100 scale" not in note.replace("(0-100)", "") and "exceeds 100" in note
    assert "above 100" in family_of("LLaVABench").headline_unit


def mmstar_rows(right: int, n: int) -> list[RowResult]:
    return [RowResult(index=i, unit=str(i), score=float(i < right), decided_by="rule") for i in range(n)]


@pytest.mark.parametrize(("right", "n"), [(0, 8), (8, 8), (1, 1), (2, 3), (30, 50)])
def test_right_wrong_rows_get_the_exact_interval_never_zero_width(right, n):
    mmstar = family_of("MMStar")
    rows = mmstar_rows(right, n)
    found = score_uncertainty(rows, mmstar.aggregate, HEADLINE, sums=mmstar.row_sums(rows)).intervals
    interval = found[HEADLINE]
    ci = stats.binomtest(right, n).proportion_ci(confidence_level=0.95, method="exact")
    assert (interval.low, interval.high) == pytest.approx((100 * ci.low, 100 * ci.high))
    assert interval.high > interval.low and interval.low <= 100 * right / n <= interval.high
    assert interval.method == f"{EXACT}, {right} of {n} scoring units right"
    assert "headline:exact" not in found  # the headline is the exact interval itself


def boundary_cases():
    # every family at n/n; LLaVA-Bench's relative score has no such boundary (a ratio of two means).
    # MME's headline sums per-category values: its bootstrap resamples within categories (a resample
    # missing one would score lower, which the reference cannot even score), so at n/n it has no
    # spread and the exact fallback applies as for every other family
    return [c for c in CASES if family_of(c[0]).name != "llavabench"]


@pytest.mark.parametrize("case", boundary_cases(), ids=case_id)
def test_all_right_is_never_shown_as_exact(case, tmp_path):
    """n/n on every family: the headline and every category get a non-zero-width interval reaching the
    score (an exact interval on units; for clustered ones the bootstrap's documented fallback)."""
    result = score_case(case, tmp_path, is_wrong=lambda k: False)
    record = result.record
    checked = {k: v for k, v in record.intervals.items() if k == HEADLINE or k.startswith(CATEGORY_PREFIX)}
    assert HEADLINE in checked
    for name, interval in checked.items():
        value = record.headline if name == HEADLINE else record.categories[name[len(CATEGORY_PREFIX) :]]
        assert interval.low < interval.high and interval.low <= value <= interval.high + 1e-9, name
        assert interval.method.startswith(EXACT), name
        if value == 100.0:  # all right (synthetic answers the rules cannot read stay wrong)
            assert interval.high == 100.0 and interval.low < 100.0, name
    assert "± 0.00" not in score_text(record)


def test_a_clustered_benchmark_keeps_its_bootstrap_off_the_boundary(tmp_path):
    """HallusionBench's headline mixes rows, question groups and figure groups: off the boundary it
    is the bootstrap over connected groups, not an exact interval that would assume independent rows."""
    case = next(c for c in CASES if c[0] == "HallusionBench")
    result = score_case(case, tmp_path)
    assert result.record.intervals[HEADLINE].method.startswith("percentile bootstrap over")


def test_identical_clustered_units_fall_back_to_a_score_interval():
    """Two HallusionBench question/figure groups that each score the same (one of two rows right): the
    percentile bootstrap cannot move and would print a zero-width interval; the documented fallback
    is the Wilson score interval (statsmodels) of the share of the top score over the groups."""
    from statsmodels.stats.proportion import proportion_confint

    hallusion = family_of("HallusionBench")
    rows = [
        RowResult(index=i, unit=f"chart_{g}_0", score=float(i % 2 == 0), decided_by="rule",
                  groups={"figure": f"chart_{g}_f"}, category="VD")
        for g in range(2)
        for i in (2 * g, 2 * g + 1)
    ]  # fmt: skip
    found = score_uncertainty(
        rows, hallusion.aggregate, HEADLINE, ["aAcc", "fAcc", "qAcc"], sums=hallusion.row_sums(rows)
    ).intervals
    headline = found[HEADLINE]
    value = hallusion.aggregate(rows)[HEADLINE]  # mean(50, 0, 0)
    low, high = proportion_confint(value / 100 * 2, 2, alpha=0.05, method="wilson")
    assert (headline.low, headline.high) == pytest.approx((100 * low, 100 * high))
    assert headline.method.startswith("Wilson score interval (statsmodels) of 16.7% of the top score over 2 ")
    assert headline.low < value < headline.high


def test_mme_resamples_within_its_categories(tmp_path):
    """MME's headline adds 14 categories' acc + acc+ (each at most 200 of 2800 points): with one wrong
    answer, a resample drawn within categories loses at most that category's 200 points, so the interval
    stays above 100 - 200/28; drawn across categories, resamples lacking a category reached lower."""
    from vleval.families.yorn import MME_POINTS

    case = next(c for c in CASES if c[0] == "MME")
    record = score_case(case, tmp_path, is_wrong=lambda k: k == 0).record
    headline = record.intervals[HEADLINE]
    assert "drawn within each of 14 category strata" in headline.method
    assert 100 - 200 / (MME_POINTS / 100) <= headline.low < record.headline < 100 == headline.high


def test_mme_stratified_resamples_are_the_rule_rerun_on_each(tmp_path):
    """The stratified bootstrap from MME's column sums gives the same interval as MME_rating re-run on
    each resample's rows (the same draws within categories, the same values)."""
    from vleval.stats.core import CATEGORY, bootstrap_intervals

    case = next(c for c in CASES if c[0] == "MME")
    rows = score_case(case, tmp_path).rows
    mme = family_of("MME")
    wanted = {name: ("unit",) for name in (HEADLINE, "perception", "reasoning")}
    summed, rerun = (
        bootstrap_intervals(rows, mme.aggregate, wanted, resamples=200, seed=5, sums=sums, strata=CATEGORY)
        for sums in (mme.row_sums(rows), None)
    )
    assert summed == rerun and summed[HEADLINE].low < summed[HEADLINE].high


def test_comparing_two_mme_runs_draws_within_categories(tmp_path):
    """`vleval compare` on MME: the paired bootstrap of B - A draws within MME's categories too."""
    import dataclasses

    from vleval.stats.compare import compare_benchmark, family_statistic

    case = next(c for c in CASES if c[0] == "MME")
    result = score_case(case, tmp_path)
    rows_b = [dataclasses.replace(r, score=1.0) if k % 7 == 0 else r for k, r in enumerate(result.rows)]
    headline = family_statistic("MME", result.record)
    paired = compare_benchmark(
        "MME", result.record, result.rows, rows_b, headline, lambda: {}, seed=0, resamples=200
    ).paired
    assert paired.interval is not None
    assert "drawn within each of 14 category strata" in paired.interval.method


def test_mme_pooled_over_sampling_seeds_resamples_within_its_categories(tmp_path):
    """`--seeds N` on MME: the two-way bootstrap (questions and seeds) draws within MME's categories as
    the one-seed bootstrap does, so one wrong answer in one seed keeps the interval above 100 - 200/28."""
    from vleval.families.yorn import MME_POINTS
    from vleval.stats.core import CATEGORY
    from vleval.stats.seeds import seed_pooled_headline

    case = next(c for c in CASES if c[0] == "MME")
    wrong_once = score_case(case, tmp_path / "a", is_wrong=lambda k: k == 0).rows
    all_right = score_case(case, tmp_path / "b", is_wrong=lambda k: False).rows
    mme = family_of("MME")
    pooled = {
        strata: seed_pooled_headline(
            [wrong_once, all_right], mme.aggregate, HEADLINE, ("unit",), seeds=(0, 1), resamples=400,
            headline_sums=lambda rows: mme.row_sums(rows).get(HEADLINE), strata=strata,
        )  # fmt: skip
        for strata in (CATEGORY, None)
    }
    within, across = pooled[CATEGORY].interval, pooled[None].interval
    assert within is not None and across is not None
    assert "drawn within each of 14 category strata" in within.method
    assert 100 - 200 / (MME_POINTS / 100) <= within.low < pooled[CATEGORY].value < 100
    assert across.low < within.low  # drawn across categories, resamples lacking one reach lower
