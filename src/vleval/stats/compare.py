"""The statistics of a paired comparison: is B's score on a benchmark really different from A's?

On the rows both runs scored, the paired difference B - A with a paired test on the scoring units
(exact McNemar for right/wrong units, a paired bootstrap for graded ones), its interval, the verdict
once the p-values are Holm-adjusted across benchmarks, and the units whose outcome flipped. Where a
run has several sampling seeds (``vleval run --seeds N``), its score is the seeds' mean and the
interval resamples seeds too (``vleval.stats.seeds.paired_seed_comparison``). Functions
of typed inputs only (``RowResult`` rows, a ``ScoreRecord``, a ``Metric``): reading two runs' work
dirs, pairing their benchmarks and printing the result is ``vleval.workflows.compare``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vleval.stats.core import (
    DEFAULT_LEVEL,
    UNIT,
    PairedResult,
    RowStatistic,
    RowSums,
    pair_rows,
    paired_comparison,
    unit_of,
    unit_values,
)
from vleval.stats.metrics import Metric
from vleval.stats.scores import HEADLINE, metric_units
from vleval.stats.seeds import paired_seed_comparison
from vleval.types import RowResult, ScoreRecord


@dataclass(frozen=True)
class HeadlineStatistic:
    """The headline of a benchmark as a function of its rows, and the metric that makes it
    (``vleval.stats.metrics``), asked which units a resample keeps whole and whether the headline is a
    share of right units (exact McNemar); without one, the paired bootstrap over scoring units."""

    statistic: RowStatistic
    metric: Metric | None = None
    # the statistic as column sums of given rows (``BenchmarkFamily.row_sums``), for a fast bootstrap
    sums: Callable[[Sequence[RowResult]], RowSums | None] | None = None


# (dataset, its score record) -> its HeadlineStatistic; the benchmark family's, replaceable in tests
StatisticFor = Callable[[str, ScoreRecord], HeadlineStatistic]

# index -> question of the rows, asked for only when a unit flipped (it may read a prediction file)
QuestionsOf = Callable[[], Mapping[str, str]]


@dataclass
class FlippedRow:
    index: Any
    question: str | None
    a: RowResult
    b: RowResult


@dataclass
class Flip:
    benchmark: str
    unit: str
    a_value: float
    b_value: float
    rows: list[FlippedRow]


@dataclass
class BenchmarkComparison:
    benchmark: str
    paired: PairedResult
    n_rows_a: int
    n_rows_b: int
    p_adjusted: float | None = None
    flips: list[Flip] = field(default_factory=list)
    seeds_a: int = 1  # sampling seeds of each side (several: its score is their mean)
    seeds_b: int = 1

    @property
    def verdict(self) -> str:
        """'better' / 'worse' (B against A) when the Holm-adjusted p is below 5%, else 'inconclusive'."""
        difference = self.paired.difference
        if difference is None or self.p_adjusted is None:
            return "not compared"
        if self.p_adjusted < 1 - DEFAULT_LEVEL and difference != 0:
            return "better" if difference > 0 else "worse"
        return "inconclusive"


def family_statistic(dataset: str, record: ScoreRecord) -> HeadlineStatistic:
    """The headline as the benchmark family aggregates it (``BenchmarkFamily.aggregate``)."""
    from vleval.datasets.registry import get_benchmark
    from vleval.families.base import family_of

    card = get_benchmark(dataset)
    family = family_of(card)

    def headline(rows: Sequence[RowResult]) -> float | None:
        value = family.aggregate(list(rows)).get(HEADLINE)
        return None if value is None else float(value)

    return HeadlineStatistic(
        headline, metric=family.metric_of(card), sums=lambda rows: family.row_sums(list(rows)).get(HEADLINE)
    )


def share_of_right_units(rows: Sequence[RowResult]) -> float | None:
    values = unit_values(rows)
    return 100.0 * sum(values.values()) / len(values) if values else None


def compare_benchmark(
    dataset: str,
    record: ScoreRecord,
    rows_a: Sequence[RowResult],
    rows_b: Sequence[RowResult],
    headline: HeadlineStatistic,
    questions: QuestionsOf,
    *,
    seed: int,
    resamples: int,
    more_seeds_a: Sequence[Sequence[RowResult]] = (),
    more_seeds_b: Sequence[Sequence[RowResult]] = (),
) -> BenchmarkComparison:
    """B against A on one benchmark (``record``: A's score record, whose metrics name the scoring
    units when ``headline`` has no metric); ``p_adjusted`` is left for the adjustment across benchmarks.
    ``rows_a``/``rows_b`` are each side's (first) sampling seed's rows; ``more_seeds_a``/``_b`` the
    rows of its other seeds, if it has several: then the sides' seed means are compared
    (``vleval.stats.seeds.paired_seed_comparison``) and the flips are those of the first seeds' rows."""
    metric = headline.metric
    keys = (metric.unit_keys() if metric is not None else metric_units(record.metrics))[HEADLINE]
    if more_seeds_a or more_seeds_b:
        paired = paired_seed_comparison(
            [rows_a, *more_seeds_a], [rows_b, *more_seeds_b], headline.statistic, keys=keys,
            resamples=resamples, seed=seed, sums=headline.sums, strata=None if metric is None else metric.strata,
        )  # fmt: skip
    else:
        paired = _paired_one_seed(rows_a, rows_b, headline, keys, seed=seed, resamples=resamples)
    return BenchmarkComparison(
        benchmark=dataset,
        paired=paired,
        n_rows_a=len(rows_a),
        n_rows_b=len(rows_b),
        flips=flipped_units(dataset, rows_a, rows_b, questions),
        seeds_a=1 + len(more_seeds_a),
        seeds_b=1 + len(more_seeds_b),
    )


def _paired_one_seed(
    rows_a: Sequence[RowResult],
    rows_b: Sequence[RowResult],
    headline: HeadlineStatistic,
    keys: Sequence[str],
    *,
    seed: int,
    resamples: int,
) -> PairedResult:
    """B - A of two runs of one prediction per row each (greedy decoding, or one sampling seed)."""
    metric = headline.metric
    # McNemar needs one kind of unit and a headline that is the share of right ones: the metric says
    right_wrong = metric is not None and all(
        metric.counts_right_units(rows) for rows in pair_rows(rows_a, rows_b)
    )
    return paired_comparison(
        rows_a, rows_b, headline.statistic, keys=keys, mcnemar=right_wrong, resamples=resamples, seed=seed,
        sums=headline.sums, strata=None if metric is None else metric.strata,
    )  # fmt: skip


def flipped_units(
    dataset: str, rows_a: Sequence[RowResult], rows_b: Sequence[RowResult], questions: QuestionsOf
) -> list[Flip]:
    """Units (of the headline) with a row whose outcome differs between the runs, in A's row order,
    each with the unit's outcome in A and B (a HallusionBench question group may stay wrong while one
    of its rows turns right) and the rows that changed."""
    common_a, common_b = pair_rows(rows_a, rows_b)
    changed: dict[str, list[tuple[RowResult, RowResult]]] = {}
    for ra, rb in zip(common_a, common_b, strict=True):
        if ra.score != rb.score:
            changed.setdefault(unit_of(ra, UNIT), []).append((ra, rb))
    if not changed:
        return []
    values_a, values_b = unit_values(common_a), unit_values(common_b)
    asked = questions()
    return [
        Flip(
            dataset,
            name.removeprefix("unit:"),
            values_a.get(name, math.nan),
            values_b.get(name, math.nan),
            [FlippedRow(ra.index, asked.get(str(ra.index)), ra, rb) for ra, rb in pairs],
        )
        for name, pairs in changed.items()
    ]
