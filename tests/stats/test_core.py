"""Known answers for the statistics: every expected value is computed here independently (closed
forms, hand counts), not by the code under test."""

from __future__ import annotations

import math

import pytest

from vleval.stats.core import (
    bootstrap_interval,
    bootstrap_intervals,
    bounds_wider_than_interval,
    censoring_bounds,
    clopper_pearson,
    clusters,
    holm,
    mcnemar_exact,
    minimal_detectable_difference,
    paired_comparison,
    unit_values,
)
from vleval.types import RowResult


def row(index, score, unit=None, decided_by="rule", **kw) -> RowResult:
    return RowResult(
        index=index, unit=str(unit if unit is not None else index), score=score, decided_by=decided_by, **kw
    )


def share_of_right_units(rows) -> float | None:
    """The MMBench rule: a unit counts when every scored row of it is right."""
    values = unit_values(rows)
    return 100.0 * sum(values.values()) / len(values) if values else None


def exact_two_sided_binomial_half(k: int, n: int) -> float:
    """Two-sided exact binomial p at 1/2 (symmetric): 2 x P(X <= min(k, n-k)), capped at 1."""
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


# -- McNemar ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("a_only", "b_only"), [(2, 8), (0, 5), (7, 3), (10, 10), (1, 0), (0, 12)])
def test_mcnemar_exact_matches_binomial_tail(a_only, b_only):
    assert mcnemar_exact(a_only, b_only) == pytest.approx(
        exact_two_sided_binomial_half(b_only, a_only + b_only)
    )


def test_mcnemar_hand_values():
    assert mcnemar_exact(2, 8) == pytest.approx(112 / 1024)  # 2 x (1 + 10 + 45) / 2^10
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_table_gives_mcnemar_of_its_discordant_units():
    # 30 units: 12 right in both, 6 wrong in both, 2 right only in A, 10 right only in B
    outcomes = [(1, 1)] * 12 + [(0, 0)] * 6 + [(1, 0)] * 2 + [(0, 1)] * 10
    rows_a = [row(i, a) for i, (a, _) in enumerate(outcomes)]
    rows_b = [row(i, b) for i, (_, b) in enumerate(outcomes)]
    result = paired_comparison(rows_a, rows_b, share_of_right_units, resamples=500, seed=1)
    assert (result.a_only, result.b_only) == (2, 10)
    assert result.p_value == pytest.approx(exact_two_sided_binomial_half(10, 12))  # = 0.0385...
    assert result.difference == pytest.approx(100 * (22 - 14) / 30)
    assert result.interval is not None and result.interval.low < result.difference < result.interval.high
    assert "McNemar" in result.test and result.n_units == 30


def test_paired_mcnemar_counts_circular_groups_not_rows():
    # unit 1: A right on all 4 rotations, B wrong on one -> the unit flips; unit 2 right in both
    rows_a = [row(i, 1, unit=i % 2) for i in range(8)]
    rows_b = [row(i, 0 if i == 2 else 1, unit=i % 2) for i in range(8)]
    result = paired_comparison(rows_a, rows_b, share_of_right_units, resamples=200)
    assert (result.a_only, result.b_only, result.n_units) == (1, 0, 2)
    assert result.difference == pytest.approx(-50.0)


def test_graded_pairs_use_a_bootstrap_p_value():
    rows_a = [row(i, 0.5) for i in range(40)]
    rows_b = [row(i, 0.9) for i in range(40)]

    def mean_score(rows):
        return 100 * sum(r.score for r in rows) / len(rows)

    result = paired_comparison(rows_a, rows_b, mean_score, mcnemar=False, resamples=300)
    assert result.difference == pytest.approx(40.0)
    # every resampled difference is +40: the p-value is the smallest the bootstrap can give
    assert result.p_value == pytest.approx(2 / 301)
    assert (result.interval.low, result.interval.high) == pytest.approx((40.0, 40.0))
    assert "paired bootstrap" in result.test


def test_paired_comparison_uses_only_common_rows():
    rows_a = [row(i, 1) for i in range(10)]
    rows_b = [row(i, 0) for i in range(5, 15)]
    result = paired_comparison(rows_a, rows_b, share_of_right_units, resamples=50)
    assert result.n_units == 5 and result.a_only == 5 and result.difference == pytest.approx(-100.0)


# -- bootstrap ----------------------------------------------------------------------------------------
def test_degenerate_all_right_set_has_zero_width_interval():
    rows = [row(i, 1, unit=i % 7) for i in range(50)]
    interval = bootstrap_interval(rows, share_of_right_units, seed=3)
    assert (interval.low, interval.high) == (100.0, 100.0)


def test_a_resample_never_splits_a_circular_group():
    # 10 groups of 4 rotations; the statistic records every resample's rows per unit
    rows = [row(g * 4 + r, (g + r) % 2, unit=g) for g in range(10) for r in range(4)]
    sizes: set[int] = set()
    units_seen: list[int] = []

    def spy(resampled):
        per_unit: dict[str, int] = {}
        for r in resampled:
            per_unit[r.unit] = per_unit.get(r.unit, 0) + 1
        sizes.update(per_unit.values())
        units_seen.append(len(per_unit))
        return share_of_right_units(resampled)

    interval = bootstrap_interval(rows, spy, resamples=200, seed=0)
    assert sizes == {4}  # every unit in every resample has its 4 rotations (copies renamed, not merged)
    assert set(units_seen) == {10}  # a resample has as many units as the data
    assert "over 10 scoring units" in interval.method and "2" in interval.method


def test_group_counted_as_one_unit_in_clusters():
    rows = [row(i, 1, unit=i % 1_000_000) for i in (1, 1_000_001, 2_000_001, 2, 1_000_002)]
    assert clusters(rows) == [[0, 1, 2], [3, 4]]


def test_question_and_figure_groups_are_kept_whole_together():
    # questions q1,q2 on figures f1,f2 (set 1: crossed), q3 on f3 (set 2)
    def hrow(i, q, f):
        return RowResult(index=i, unit=q, score=1, decided_by="rule", groups={"figure": f})

    rows = [
        hrow(0, "q1", "f1"),
        hrow(1, "q1", "f2"),
        hrow(2, "q2", "f1"),
        hrow(3, "q2", "f2"),
        hrow(4, "q3", "f3"),
    ]
    assert clusters(rows, ("unit", "figure")) == [[0, 1, 2, 3], [4]]
    assert clusters(rows, ("figure",)) == [[0, 2], [1, 3], [4]]
    assert clusters(rows, ("row",)) == [[0], [1], [2], [3], [4]]


def test_bootstrap_is_seeded():
    rows = [row(i, int(i % 3 == 0)) for i in range(60)]
    first = bootstrap_interval(rows, share_of_right_units, seed=5)
    again = bootstrap_interval(rows, share_of_right_units, seed=5)
    other = bootstrap_interval(rows, share_of_right_units, seed=6)
    assert first == again
    assert "seed 5" in first.method and "2000 resamples" in first.method
    assert (first.low, first.high) != (other.low, other.high)


def test_bootstrap_agrees_with_clopper_pearson_on_independent_rows():
    rows = [row(i, int(i % 10 < 7)) for i in range(300)]  # 210 of 300 right
    boot = bootstrap_interval(rows, share_of_right_units, seed=0)
    exact = clopper_pearson(210, 300)
    assert boot.low == pytest.approx(exact.low, abs=1.5) and boot.high == pytest.approx(exact.high, abs=1.5)


def test_bootstrap_intervals_share_resamples_per_unit_keys():
    rows = [
        RowResult(index=i, unit=f"q{i // 2}", score=i % 2, decided_by="rule", groups={"figure": f"f{i % 4}"})
        for i in range(16)
    ]

    def aggregate(rs):
        return {"aAcc": 100 * sum(r.score for r in rs) / len(rs), "never": None}

    found = bootstrap_intervals(rows, aggregate, {"aAcc": ("unit",), "never": ("figure",)}, resamples=100)
    assert set(found) == {"aAcc"}
    assert found["aAcc"].low <= 50 <= found["aAcc"].high


# -- Clopper-Pearson ----------------------------------------------------------------------------------
def test_clopper_pearson_closed_forms():
    alpha = 0.05
    none_right = clopper_pearson(0, 10)
    assert none_right.low == 0.0
    assert none_right.high == pytest.approx(100 * (1 - (alpha / 2) ** (1 / 10)))
    all_right = clopper_pearson(10, 10)
    assert all_right.low == pytest.approx(100 * (alpha / 2) ** (1 / 10))
    assert all_right.high == pytest.approx(100.0)
    assert "Clopper-Pearson" in all_right.method


# -- Holm ---------------------------------------------------------------------------------------------
def test_holm_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == []


# -- power ----------------------------------------------------------------------------------------------
def test_minimal_detectable_difference_formula():
    z = 1.959963984540054 + 0.8416212335729143
    mde, method = minimal_detectable_difference(2.0, 5.0)
    assert mde == pytest.approx(z * 2.0)
    assert "80% power" in method and "paired" in method
    # runs that agree everywhere: the SE of two independent runs is used
    mde, method = minimal_detectable_difference(0.0, 3.0)
    assert mde == pytest.approx(z * 3.0)
    assert "independent" in method
    assert minimal_detectable_difference(0.0, 0.0)[0] is None


def test_identical_runs_still_get_a_detectable_difference():
    rows = [row(i, i % 2) for i in range(100)]
    result = paired_comparison(rows, rows, share_of_right_units, resamples=500)
    assert result.difference == 0 and result.p_value == 1.0
    # SE of one run's share is about 5 points (sqrt(.25 / 100)); two independent runs: x sqrt(2)
    assert result.mde == pytest.approx(2.8 * 5 * 2**0.5, rel=0.15)


# -- censoring ------------------------------------------------------------------------------------------
def test_censoring_bounds():
    rows = [row(i, 1) for i in range(6)] + [row(6, 0), row(7, 0)]
    rows += [row(8, 1, decided_by="fallback"), row(9, 0, hit_token_limit=True)]
    assert censoring_bounds(rows, share_of_right_units) == (pytest.approx(60.0), pytest.approx(80.0))
    assert censoring_bounds(rows[:8], share_of_right_units) is None


def test_bounds_flagged_when_wider_than_interval():
    from vleval.types import Interval

    interval = Interval(low=60, high=70, method="m")
    assert bounds_wider_than_interval((55.0, 75.0), interval)
    assert not bounds_wider_than_interval((62.0, 66.0), interval)
    assert not bounds_wider_than_interval(None, interval)


def test_copies_rename_resampled_groups_only():
    # a split attribute in groups (MMMU) must survive resampling; figure groups are renamed per copy
    rows = [
        RowResult(
            index=i,
            unit=str(i),
            score=1,
            decided_by="rule",
            groups={"split": "validation", "figure": f"f{i}"},
        )
        for i in range(3)
    ]
    splits: set[str] = set()
    figures_per_resample: list[int] = []

    def spy(resampled):
        splits.update(r.groups["split"] for r in resampled)
        figures_per_resample.append(len({r.groups["figure"] for r in resampled}))
        return 100.0

    bootstrap_interval(rows, spy, keys=("unit", "figure"), resamples=50)
    assert splits == {"validation"}
    assert set(figures_per_resample) == {3}


def test_fast_path_gives_the_generic_paths_numbers(monkeypatch):
    import vleval.stats.core as core

    rows = [
        RowResult(
            index=i,
            unit=f"q{i // 3}",
            score=int((i * 7) % 5 > 1),
            decided_by="rule",
            groups={"figure": f"f{i // 6}"},
        )
        for i in range(600)
    ]

    def aggregate(rs):
        units: dict[str, list[float]] = {}
        figures: dict[str, list[float]] = {}
        for r in rs:
            units.setdefault(r.unit, []).append(r.score)
            figures.setdefault(r.groups["figure"], []).append(r.score)
        right_units = 100 * sum(all(v) for v in units.values()) / len(units)
        right_figures = 100 * sum(all(v) for v in figures.values()) / len(figures)
        rows_right = 100 * sum(r.score for r in rs) / len(rs)
        return {
            "share": right_units,  # mean of unit values
            "rows": rows_right,  # row-weighted mean of unit values
            "points": sum(r.score for r in rs) / 10,  # sum of unit values
            "mixed": (right_units + right_figures + rows_right) / 3,  # no decomposition over units
        }

    metrics = {"share": ("unit",), "rows": ("unit",), "points": ("unit",), "mixed": ("unit",)}
    fast = bootstrap_intervals(rows, aggregate, metrics, resamples=300, seed=2)
    monkeypatch.setattr(core, "FAST_PATH_MIN_UNITS", 10**9)
    generic = bootstrap_intervals(rows, aggregate, metrics, resamples=300, seed=2)
    assert fast.keys() == generic.keys() == metrics.keys()
    for name in metrics:
        assert (fast[name].low, fast[name].high) == pytest.approx(
            (generic[name].low, generic[name].high), abs=1e-8
        )


def test_a_stratified_bootstrap_keeps_every_stratum_at_its_size():
    """Strata "a" (3 rows, all right) and "b" (1 row, wrong): the mean of the two strata's shares is
    50 on every resample drawn within strata (each holds 3 of a's rows and b's one row); drawn across
    strata, a resample lacking b scores 100, so the interval reaches it."""

    def mean_of_strata(rows):
        shares = []
        for name in ("a", "b"):
            members = [r.score for r in rows if r.category == name]
            if members:
                shares.append(100 * sum(members) / len(members))
        return sum(shares) / len(shares)

    rows = [row(i, 1.0, category="a") for i in range(3)] + [row(3, 0.0, category="b")]
    stratified = bootstrap_intervals(
        rows, lambda r: {"value": mean_of_strata(r)}, {"value": ("unit",)}, strata="category"
    )["value"]
    assert (stratified.low, stratified.high) == (50.0, 50.0)
    assert "drawn within each of 2 category strata" in stratified.method
    across = bootstrap_intervals(rows, lambda r: {"value": mean_of_strata(r)}, {"value": ("unit",)})["value"]
    assert across.high == 100.0 and "strata" not in across.method
