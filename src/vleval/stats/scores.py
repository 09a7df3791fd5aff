"""Uncertainty of one scored benchmark: a bootstrap interval on the headline and on each reported
sub-score (the ``metrics``, and the per-category values the report charts wherever a category's value
is a statistic of its own rows), the exact binomial cross-check where the headline is a plain
proportion, and the censoring bounds. ``fill_record`` writes them into the ``ScoreRecord`` scoring
produces.

What the statistics need to know about a benchmark they ask its metric (``vleval.stats.metrics``):
which unit each metric aggregates (every row's ``unit`` is the unit of its headline: the MMBench
circular group, the HallusionBench question group, the row itself elsewhere; a sub-metric may
aggregate another group of ``RowResult.groups``), a row's best score, and whether the headline is a
share of right units. A headline that combines metrics over different units (HallusionBench's mean of
aAcc, qAcc and fAcc) resamples the sets that keep all of them whole. Without a metric (statistics of
rows given as plain functions), ``METRIC_GROUPS`` names the metrics that aggregate another group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vleval.stats.core import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    UNIT,
    RowAggregate,
    RowSums,
    binary_units,
    bootstrap_intervals,
    bounds_wider_than_interval,
    censoring_bounds,
    clopper_pearson,
    clusters,
    describe_units,
    is_censored,
    no_spread_interval,
)
from vleval.types import Interval, RowResult, ScoreRecord

if TYPE_CHECKING:  # the metrics import this module (HEADLINE)
    from vleval.stats.metrics import Metric

HEADLINE = "headline"  # key of the headline in ScoreRecord.intervals
EXACT_SUFFIX = ":exact"  # ScoreRecord.intervals["headline:exact"]: the Clopper-Pearson cross-check
CATEGORY_PREFIX = "category:"  # ScoreRecord.intervals["category:<name>"]: a ScoreRecord.categories value
# a reported category value is recomputed from its rows to within this before it gets an interval
CATEGORY_TOLERANCE = 1e-6


def category_key(name: str) -> str:
    """The ``ScoreRecord.intervals`` key of the per-category sub-score ``name``."""
    return CATEGORY_PREFIX + name


# metric -> the RowResult.groups keys it aggregates (HallusionBench fAcc: figure groups,
# VLMEvalKit vlmeval/dataset/utils/yorn.py::Hallusion_rating groups by l2-category, set and figure)
METRIC_GROUPS: dict[str, tuple[str, ...]] = {"fAcc": ("figure",)}


def metric_units(metrics: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Unit keys per metric, and for ``HEADLINE`` the union of them all."""
    out = {name: METRIC_GROUPS.get(name, (UNIT,)) for name in metrics if name != HEADLINE}
    out[HEADLINE] = tuple(dict.fromkeys([UNIT, *(k for keys in out.values() for k in keys)]))
    return out


@dataclass
class Uncertainty:
    intervals: dict[str, Interval] = field(default_factory=dict)
    bounds: tuple[float, float] | None = None  # headline if every censored row were wrong ... right
    censored: int = 0

    @property
    def bounds_wider_than_interval(self) -> bool:
        return bounds_wider_than_interval(self.bounds, self.intervals.get(HEADLINE))


def score_uncertainty(
    rows: Sequence[RowResult],
    aggregate: RowAggregate,
    headline_key: str,
    metrics: Iterable[str] = (),
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    metric: Metric | None = None,
    sums: Mapping[str, RowSums] | None = None,
    categories: Mapping[str, float] | None = None,
    category_sums: Mapping[str, RowSums] | None = None,
) -> Uncertainty:
    """Intervals for the headline (``aggregate(rows)[headline_key]``), each of ``metrics`` and each
    reported category value in ``categories``, and the censoring bounds of the headline (censored
    rows set to 0 ... the metric's best row score, 1 without one).

    ``metric``: the benchmark's metric (``vleval.stats.metrics``), asked for each metric's units, a
    row's best score and whether the headline is a share of right rows (the exact cross-check);
    without one, units come from ``metric_units`` and there is no cross-check.

    ``sums``: the family's column sums of the headline (under ``HEADLINE``) and metrics (by name),
    which give every resample's value at once (``summed_values``); one that does not reproduce the
    aggregation on all rows is not used (the aggregation then runs on each resample). Categories get
    intervals from ``category_sums`` only, on the headline's resamples: each resample draws units of
    the whole benchmark and a category's value is that of its units among them (see
    ``category_sums_checked``)."""
    rows = list(rows)
    if not rows:
        return Uncertainty()

    def with_headline(resampled: Sequence[RowResult]) -> Mapping[str, float | None]:
        values = dict(aggregate(resampled))
        values[HEADLINE] = values.get(headline_key)
        return values

    full = with_headline(rows)
    names = [m for m in metrics if m != headline_key]
    units = metric.unit_keys(names) if metric is not None else metric_units(names)
    usable = {
        name: found
        for name, found in (sums or {}).items()
        if name in units and _same(found.value(), full.get(name))
    }
    # a metric the aggregation does not give on all rows gets no interval: no resample to run for it
    wanted = {name: keys for name, keys in units.items() if _same(_number(full.get(name)), full.get(name))}
    notes: dict[str, str] = {}  # method notes of bootstrap intervals
    named: dict[str, str] = {}  # ... and of exact ones
    for name, found in category_sums_checked(categories or {}, category_sums or {}).items():
        wanted[category_key(name)] = units[HEADLINE]
        usable[category_key(name)] = found
        named[category_key(name)] = f", category {name!r}"
        notes[category_key(name)] = named[category_key(name)] + ": its units within each resample"
    strata = metric.strata if metric is not None else None
    intervals = exact_intervals(rows, wanted, usable, level, named, stratified=strata is not None)
    intervals.update(
        bootstrap_intervals(
            rows,
            with_headline,
            {n: k for n, k in wanted.items() if n not in intervals},
            resamples=resamples,
            seed=seed,
            level=level,
            sums=usable,
            method_notes=notes,
            strata=strata,
        )  # fmt: skip
    )
    for name, interval in list(intervals.items()):
        if interval.low == interval.high and name in usable:  # a bootstrap with no spread
            fallback = no_spread_interval(
                len(rows), clusters(rows, wanted[name]), usable[name], level, describe_units(wanted[name])
            )
            if fallback is not None:
                fallback.method += named.get(name, "")
                intervals[name] = fallback
    exact = plain_proportion_interval(rows, full.get(HEADLINE), level, metric)
    if exact is not None and not _is_exact(intervals.get(HEADLINE)):
        intervals[HEADLINE + EXACT_SUFFIX] = exact
    best_score = metric.best_row_score if metric is not None else 1.0
    bounds = censoring_bounds(rows, lambda r: with_headline(r).get(HEADLINE), best_score=best_score)
    return Uncertainty(intervals=intervals, bounds=bounds, censored=sum(is_censored(r) for r in rows))


def exact_intervals(
    rows: Sequence[RowResult],
    units: Mapping[str, Sequence[str]],
    sums: Mapping[str, RowSums],
    level: float,
    notes: Mapping[str, str],
    *,
    stratified: bool = False,
) -> dict[str, Interval]:
    """Clopper-Pearson intervals for the statistics that count right units (``binary_units``): an
    accuracy over independent right/wrong units (MMStar's rows, MMBench's circular questions, CRPE's
    blocks), OCRBench's points, and any statistic on rows whose every unit is wholly right or wholly
    wrong (n/n, 0/n), where a percentile bootstrap would give a zero-width interval (``stratified``:
    the metric resamples within strata, where that holds of its sum over strata too)."""
    out: dict[str, Interval] = {}
    groups_by_keys: dict[tuple[str, ...], list[list[int]]] = {}
    for name, keys in units.items():
        found = sums.get(name)
        if found is None:
            continue
        groups = groups_by_keys.setdefault(tuple(keys), None) or clusters(rows, keys)
        groups_by_keys[tuple(keys)] = groups
        binary = binary_units(len(rows), groups, found, stratified=stratified)
        if binary is not None:
            interval = binary.interval(level, describe_units(keys))
            interval.method += notes.get(name, "")
            out[name] = interval
    return out


def _is_exact(interval: Interval | None) -> bool:
    return interval is not None and interval.method.startswith("exact binomial")


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _same(value: float, expected: object) -> bool:
    try:
        other = float(expected)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and math.isfinite(other) and abs(value - other) <= 1e-9 * max(1.0, abs(other))


def category_sums_checked(
    reported: Mapping[str, float], category_sums: Mapping[str, RowSums]
) -> dict[str, RowSums]:
    """The reported categories (``ScoreRecord.categories``) whose value the family's sums give from
    the category's own rows. A category without sums, or whose sums give another value (a sub-score
    that is not a statistic of its own rows), gets no interval: better none than a wrong one."""
    out: dict[str, RowSums] = {}
    for name, value in reported.items():
        found = category_sums.get(name)
        if found is not None and abs(found.value() - value) <= CATEGORY_TOLERANCE * max(1.0, abs(value)):
            out[name] = found
    return out


def plain_proportion_interval(
    rows: Sequence[RowResult], headline: float | None, level: float, metric: Metric | None
) -> Interval | None:
    """Clopper-Pearson when the metric says the headline is the share of right units
    (``Metric.counts_right_units``: not OCRBench's points, not a mean grade) and every row is scored
    and its own unit (MMMU, MMStar, AI2D, ...): then rows are independent trials and the exact
    interval applies. None without a metric."""
    if metric is None or headline is None or not metric.counts_right_units(rows):
        return None
    if any(r.score is None for r in rows) or any(len(c) > 1 for c in clusters(rows)):
        return None
    return clopper_pearson(sum(int(r.score) for r in rows), len(rows), level)  # type: ignore[arg-type]


def fill_record(record: ScoreRecord, uncertainty: Uncertainty) -> ScoreRecord:
    """Write intervals and bounds into ``record`` (and a note when the bounds are the wider)."""
    record.intervals = dict(uncertainty.intervals)
    record.bounds = uncertainty.bounds
    if uncertainty.bounds_wider_than_interval:
        low, high = uncertainty.bounds
        record.notes.append(
            f"{uncertainty.censored} censored row(s) (token limit, fallback, unparsed or failed judge) "
            f"could move the score from {low:.2f} to {high:.2f}: wider than its 95% interval."
        )
    return record
