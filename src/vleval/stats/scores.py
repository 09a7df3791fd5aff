"""Uncertainty of one scored benchmark: a bootstrap interval on the headline and on each reported
sub-score (the ``metrics``, and the per-category values the report charts wherever a category's value
is a statistic of its own rows), the exact binomial cross-check where the headline is a plain
proportion, and the censoring bounds. ``fill_record`` writes them into the ``ScoreRecord`` scoring
produces.

What the statistics need to know about a benchmark is which unit each metric aggregates: every
row's ``unit`` is the unit of its headline (the MMBench circular group, the HallusionBench question
group, the row itself elsewhere); ``METRIC_GROUPS`` names the metrics that aggregate another group
of ``RowResult.groups``. A headline that combines metrics over different units (HallusionBench's mean
of aAcc, qAcc and fAcc) resamples the sets that keep all of them whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

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
    best_score: float = 1.0,
    sums: Mapping[str, RowSums] | None = None,
    categories: Mapping[str, float] | None = None,
    category_sums: Mapping[str, RowSums] | None = None,
) -> Uncertainty:
    """Intervals for the headline (``aggregate(rows)[headline_key]``), each of ``metrics`` and each
    reported category value in ``categories``, and the censoring bounds of the headline (censored
    rows set to 0 ... ``best_score``).

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
    units = metric_units([m for m in metrics if m != headline_key])
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
    intervals = exact_intervals(rows, wanted, usable, level, named)
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
    exact = plain_proportion_interval(rows, full.get(HEADLINE), level)
    if exact is not None and not _is_exact(intervals.get(HEADLINE)):
        intervals[HEADLINE + EXACT_SUFFIX] = exact
    bounds = censoring_bounds(rows, lambda r: with_headline(r).get(HEADLINE), best_score=best_score)
    return Uncertainty(intervals=intervals, bounds=bounds, censored=sum(is_censored(r) for r in rows))


def exact_intervals(
    rows: Sequence[RowResult],
    units: Mapping[str, Sequence[str]],
    sums: Mapping[str, RowSums],
    level: float,
    notes: Mapping[str, str],
) -> dict[str, Interval]:
    """Clopper-Pearson intervals for the statistics that count right units (``binary_units``): an
    accuracy over independent right/wrong units (MMStar's rows, MMBench's circular questions, CRPE's
    blocks), OCRBench's points, and any statistic on rows whose every unit is wholly right or wholly
    wrong (n/n, 0/n), where a percentile bootstrap would give a zero-width interval."""
    out: dict[str, Interval] = {}
    groups_by_keys: dict[tuple[str, ...], list[list[int]]] = {}
    for name, keys in units.items():
        found = sums.get(name)
        if found is None:
            continue
        groups = groups_by_keys.setdefault(tuple(keys), None) or clusters(rows, keys)
        groups_by_keys[tuple(keys)] = groups
        binary = binary_units(len(rows), groups, found)
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
    rows: Sequence[RowResult], headline: float | None, level: float
) -> Interval | None:
    """Clopper-Pearson when the headline is the share of right rows and every row is its own unit
    (MMMU, MMStar, AI2D, ...): then rows are independent trials and the exact interval applies."""
    scored = [r for r in rows if r.score is not None]
    if headline is None or not scored or len(scored) != len(rows):
        return None
    if any(r.score not in (0, 1) for r in scored) or any(len(c) > 1 for c in clusters(scored)):
        return None
    right = sum(int(r.score) for r in scored)
    if abs(100.0 * right / len(scored) - headline) > 1e-6:
        return None  # the headline is not that proportion (OCRBench sums points)
    return clopper_pearson(right, len(scored), level)


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
