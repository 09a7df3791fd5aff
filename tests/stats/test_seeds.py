"""Pooling the runs of several sampling seeds (``vleval.stats.seeds``): the mean of their scores, and an
interval that widens when the seeds disagree."""

from __future__ import annotations

import pytest

from vleval.families.base import HEADLINE
from vleval.stats.core import UNIT, bootstrap_interval
from vleval.stats.seeds import seed_pooled_headline
from vleval.types import RowResult


def _rows(right: list[int]) -> list[RowResult]:
    return [RowResult(index=i, unit=str(i), score=float(r), decided_by="rule") for i, r in enumerate(right)]


def _accuracy(rows):
    return {HEADLINE: 100 * sum(r.score for r in rows) / len(rows)}


def _pooled(*runs: list[int]):
    return seed_pooled_headline(
        [_rows(r) for r in runs], _accuracy, HEADLINE, (UNIT,), seeds=list(range(len(runs))), resamples=1000
    )


def test_seeds_that_disagree_widen_the_interval_beyond_one_seeds():
    first = [1, 1, 1, 1, 0] * 8  # 80% right under seed 0, 40% under seed 1
    second = [1, 0, 1, 0, 0] * 8
    pooled = _pooled(first, second)
    assert pooled.value == pytest.approx(60.0) and pooled.per_seed == [80.0, 40.0]
    single = bootstrap_interval(_rows(first), lambda rows: _accuracy(rows)[HEADLINE], resamples=1000)
    assert single is not None and pooled.interval is not None
    assert pooled.interval.high - pooled.interval.low > single.high - single.low
    assert "one of 2 sampling seeds (0, 1)" in pooled.interval.method


def test_seeds_that_agree_add_no_width():
    run = [1, 1, 0, 1, 0] * 8
    pooled = _pooled(run, run, run)
    single = bootstrap_interval(_rows(run), lambda rows: _accuracy(rows)[HEADLINE], resamples=1000)
    assert pooled.value == pytest.approx(60.0)
    assert pooled.interval.high - pooled.interval.low == pytest.approx(single.high - single.low, abs=3.0)


def test_the_score_is_the_mean_of_the_seeds():
    assert _pooled([1, 1, 1, 1], [0, 0, 1, 1]).value == pytest.approx(75.0)


def test_seeds_that_scored_other_rows_are_not_pooled():
    with pytest.raises(ValueError, match="other rows"):
        seed_pooled_headline([_rows([1, 0]), _rows([1])], _accuracy, HEADLINE, (UNIT,), seeds=[0, 1])


def test_the_column_sums_give_the_same_interval_as_the_aggregation():
    """The fast path (the family's column sums, ``Family.row_sums``) and the aggregation on every
    resample give the same interval for MMStar's headline."""
    import random

    from vleval.datasets.registry import get_benchmark
    from vleval.families.base import family_of

    family = family_of(get_benchmark("MMStar"))

    def rows(seed: int) -> list[RowResult]:
        rng = random.Random(seed)
        return [
            RowResult(index=i, unit=str(i), score=float(rng.random() < 0.6), decided_by="rule",
                      category=f"c{i % 6}", groups={"split": "none", "l2-category": f"l{i % 18}"})
            for i in range(60)
        ]  # fmt: skip

    runs = [rows(0), rows(1), rows(2)]
    keys = family.metric.unit_keys()[HEADLINE]
    slow = seed_pooled_headline(runs, family.aggregate, HEADLINE, keys, seeds=[0, 1, 2], resamples=300)
    fast = seed_pooled_headline(
        runs, family.aggregate, HEADLINE, keys, seeds=[0, 1, 2], resamples=300,
        headline_sums=lambda r: family.row_sums(r).get(HEADLINE),
    )  # fmt: skip
    assert fast.value == slow.value and fast.interval == slow.interval


def test_a_paired_comparison_of_seeded_runs_is_the_difference_of_the_seed_means():
    """``paired_seed_comparison`` on MMStar-like rows: the seed means' difference, on the rows both runs
    scored, and the same interval from the family's column sums as from its aggregation."""
    import random

    from vleval.datasets.registry import get_benchmark
    from vleval.families.base import family_of
    from vleval.stats.compare import family_statistic
    from vleval.stats.seeds import paired_seed_comparison
    from vleval.types import ScoreRecord

    def rows(seed: int, right: float, n: int = 60) -> list[RowResult]:
        rng = random.Random(seed)
        return [
            RowResult(index=i, unit=str(i), score=float(rng.random() < right), decided_by="rule",
                      category=f"c{i % 6}", groups={"split": "none", "l2-category": f"l{i % 18}"})
            for i in range(n)
        ]  # fmt: skip

    card = get_benchmark("MMStar")
    family = family_of(card)
    headline = family_statistic("MMStar", ScoreRecord("MMStar", "2024.12", "Overall", None))
    keys = family.metric_of(card).unit_keys()[HEADLINE]
    a = [rows(0, 0.5), rows(1, 0.5)]
    b = [rows(2, 0.7, n=58), rows(3, 0.7, n=58), rows(4, 0.7, n=58)]  # B scored 58 of the 60 rows
    fast = paired_seed_comparison(a, b, headline.statistic, keys=keys, resamples=300, sums=headline.sums)
    slow = paired_seed_comparison(a, b, headline.statistic, keys=keys, resamples=300)
    common_a = [seed_rows[:58] for seed_rows in a]
    mean_a = sum(headline.statistic(r) for r in common_a) / 2
    mean_b = sum(headline.statistic(r) for r in b) / 3
    assert fast.difference == pytest.approx(mean_b - mean_a) and fast.n_units == 58
    assert fast == slow
    assert fast.interval.low < fast.difference < fast.interval.high
