"""The statistics themselves, on per-row results (``RowResult``): bootstrap intervals over scoring
units, exact binomial intervals and tests, paired comparisons, Holm's adjustment, the smallest
detectable difference and censoring bounds.

Everything that can be taken from a maintained library is: ``scipy.stats`` gives the exact binomial
test and the Clopper-Pearson interval, numpy draws the resamples. What is written here is the part no
library knows: a resample draws whole *scoring units* (an MMBench question with all its circular
rotations, a HallusionBench question or figure group), never single rows, because the benchmark scores
the unit, and rows of one unit are not independent. Where a statistic gives each stratum a fixed
weight (MME's sum over categories), a resample draws each stratum's units among its own
(``Metric.strata``: a stratified bootstrap), so that none is missing from it.

Every random number comes from ``numpy.random.default_rng(seed)``; the seed and the number of
resamples are written into ``Interval.method``, so the same rows and seed give the same interval.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from vleval.types import THINKING_CENSORED, Interval, RowResult

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
DEFAULT_POWER = 0.80
# decided_by values whose outcome is not the model's: the protocol guessed, nothing read an answer,
# or the judge failed. Together with rows cut by the token limit they are the censored rows.
CENSORED_DECISIONS = ("fallback", "unparsed", "failed")

# a statistic of rows on the 0-100 scale; None when it is undefined for those rows
RowStatistic = Callable[[Sequence[RowResult]], float | None]
# several statistics at once (a benchmark family's aggregation): metric -> 0-100 value
RowAggregate = Callable[[Sequence[RowResult]], Mapping[str, float | None]]

ROW = "row"  # unit key: each row on its own
UNIT = "unit"  # unit key: RowResult.unit (the unit the headline aggregates)
CATEGORY = "category"  # stratum key: RowResult.category (MME's headline sums per-category values)


# --------------------------------------------------------------------------------------------------
# Scoring units
# --------------------------------------------------------------------------------------------------
def unit_of(row: RowResult, key: str) -> str:
    """The name of the unit ``row`` belongs to under ``key``: ``"row"`` (the row itself), ``"unit"``
    (``row.unit``) or a key of ``row.groups`` (e.g. ``"figure"``); a row without that group is a unit
    of its own."""
    if key == ROW:
        return f"row:{row.index}"
    if key == UNIT:
        return f"unit:{row.unit}"
    value = row.groups.get(key)
    return f"{key}:{value}" if value is not None else f"row:{row.index}"


def clusters(rows: Sequence[RowResult], keys: Sequence[str] = (UNIT,)) -> list[list[int]]:
    """Row positions grouped so that no unit under any of ``keys`` is split: the connected
    components of "shares a unit". With one key these are exactly its units; with HallusionBench's
    question and figure groups together (its headline averages metrics over both) they are the
    smallest sets that keep every question group and every figure group whole. Ordered by first
    row, rows in table order (deterministic)."""
    return _components([[unit_of(row, key) for key in keys] for row in rows])


def paired_clusters(
    rows_a: Sequence[RowResult], rows_b: Sequence[RowResult], keys: Sequence[str] = (UNIT,)
) -> list[list[int]]:
    """``clusters`` of row positions where position i is row i of both runs: a unit of either run
    stays whole (the runs share the benchmark's units; this also holds if they named them apart)."""
    return _components(
        [
            [f"a.{unit_of(a, key)}" for key in keys] + [f"b.{unit_of(b, key)}" for key in keys]
            for a, b in zip(rows_a, rows_b, strict=True)
        ]
    )


def _components(names: list[list[str]]) -> list[list[int]]:
    """Union-find over positions that share a name."""
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of: dict[str, int] = {}
    for i, row_names in enumerate(names):
        for name in row_names:
            if name in first_of:
                a, b = find(first_of[name]), find(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first_of[name] = i
    members: dict[int, list[int]] = {}
    for i in range(len(names)):
        members.setdefault(find(i), []).append(i)
    return list(members.values())


def stratum_of(row: RowResult, key: str) -> str:
    """The stratum ``row`` is resampled within under ``key``: ``"category"`` (``row.category``) or a
    key of ``row.groups``; a row without one is in the stratum ``""``."""
    value = row.category if key == CATEGORY else row.groups.get(key)
    return "" if value is None else str(value)


def cluster_strata(rows: Sequence[RowResult], groups: list[list[int]], key: str) -> list[list[int]]:
    """The clusters (``groups``: row positions) of each stratum under ``key``, as cluster positions in
    order of first appearance. A cluster whose rows lie in several strata joins them into one (a
    resample never splits a cluster, so it cannot hold those strata's sizes apart)."""
    return _components([sorted({stratum_of(rows[i], key) for i in members}) for members in groups])


def describe_units(keys: Sequence[str]) -> str:
    names = {ROW: "rows", UNIT: "scoring units"}
    parts = [names.get(k, f"{k} groups") for k in keys]
    if len(parts) == 1:
        return parts[0]
    return "connected " + " and ".join(parts)


# --------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------
def _draws(n_clusters: int, resamples: int, seed: int, strata: list[list[int]] | None = None) -> np.ndarray:
    """(resamples, n_clusters) cluster positions, drawn with replacement; with ``strata`` (cluster
    positions per stratum, ``cluster_strata``) each stratum's clusters among its own (``_draw_chunks``)."""
    if strata is not None:
        return np.concatenate(list(_draw_chunks(n_clusters, resamples, seed, strata)))
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=(resamples, n_clusters))


class _Resampler:
    """Builds the rows of one resample. A unit drawn k > 1 times appears as k distinct units (its
    copies get their ``unit`` and the resampled ``groups`` names suffixed ``~1``, ``~2``...), so that
    an aggregation that groups by unit counts each copy as its own unit rather than merging them.
    Other ``groups`` entries (attributes such as MMMU's ``split``) keep their values."""

    def __init__(self, rows: Sequence[RowResult], groups: list[list[int]], keys: Sequence[str]):
        self.rows = list(rows)
        self.groups = groups
        self.renamed = frozenset(k for k in keys if k not in (ROW, UNIT))
        self._copies: dict[tuple[int, int], list[RowResult]] = {}

    def _copy(self, cluster: int, k: int) -> list[RowResult]:
        key = (cluster, k)
        if key not in self._copies:
            members = [self.rows[i] for i in self.groups[cluster]]
            if k == 0:
                self._copies[key] = members
            else:
                self._copies[key] = [
                    dataclasses.replace(
                        row,
                        unit=f"{row.unit}~{k}",
                        groups={
                            name: f"{value}~{k}" if name in self.renamed else value
                            for name, value in row.groups.items()
                        },
                    )
                    for row in members
                ]
        return self._copies[key]

    def rows_for(self, draw: np.ndarray) -> list[RowResult]:
        seen: dict[int, int] = {}
        out: list[RowResult] = []
        for cluster in sorted(int(c) for c in draw):  # table order: aggregations see sorted rows
            k = seen.get(cluster, 0)
            seen[cluster] = k + 1
            out.extend(self._copy(cluster, k))
        return out


# --------------------------------------------------------------------------------------------------
# Vectorised bootstrap: statistics that are functions of per-row column sums
# --------------------------------------------------------------------------------------------------
@dataclass
class RowSums:
    """A statistic written as a function of column sums, which is how every benchmark family's
    headline, metrics and per-category values are made (shares of right rows or units, mean grades,
    points, ratios of means). Row i contributes ``columns[i]`` (k numbers); the statistic of any
    collection of whole units is ``combine`` of the sum of its rows' columns. A unit's own outcome
    (an MMBench question right only if all rotations are) sits on one of its rows, since a resample
    never splits a unit. ``combine`` maps a (resamples, k) array of sums to a (resamples,) array of
    values (NaN where undefined), with the same float operations the family's ``aggregate`` uses, so
    a resample's value is the aggregation's to the last bit wherever the sums are exact."""

    columns: np.ndarray  # (rows, k)
    combine: Callable[[np.ndarray], np.ndarray]
    # the columns had every row been right (each unit at its best score): what a right unit is worth,
    # for the exact interval of binary units (``binary_units``); None where there is no such notion
    best: np.ndarray | None = None

    def value(self) -> float:
        """The statistic on all rows."""
        return float(self.combine(self.columns.sum(axis=0, keepdims=True))[0])

    def masked(self, mask: np.ndarray) -> RowSums:
        """The same statistic on the rows where ``mask`` is 1 (a category's rows, in place: the
        resampled units outside it contribute nothing)."""
        best = None if self.best is None else self.best * mask[:, None]
        return RowSums(self.columns * mask[:, None], self.combine, best)


def share(right: np.ndarray, counted: np.ndarray, scale: float = 100.0) -> RowSums:
    """``scale`` x (sum of ``right``) / (sum of ``counted``): the share of right rows or units (the
    aggregation's ``float(np.mean(hits)) * 100``), or a mean grade x 100."""
    return RowSums(
        np.column_stack([right, counted]).astype(float),
        lambda s: ratio(s[:, 0], s[:, 1]) * scale,
        np.column_stack([counted, counted]).astype(float),
    )


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


# resamples whose per-cluster counts are built at once: (chunk x clusters) float64 counts stay small
SUM_CHUNK = 250


def _draw_chunks(n_clusters: int, resamples: int, seed: int, strata: list[list[int]] | None = None):
    """The draws of ``_draws`` (the same numbers: the generator's stream does not depend on how it is
    cut), SUM_CHUNK resamples at a time, as int32, so the (resamples x clusters) matrix is never held.

    ``strata`` (cluster positions per stratum): a stratified bootstrap, each resample drawing as many
    clusters from each stratum as it has, among that stratum's own, so that every resample holds every
    stratum at its size. Per chunk the strata are drawn in order; the columns are the strata's draws
    side by side (a resample is a multiset of clusters: their order does not matter)."""
    rng = np.random.default_rng(seed)
    members = None if strata is None else [np.asarray(s, dtype=np.int32) for s in strata]
    for start in range(0, resamples, SUM_CHUNK):
        size = min(SUM_CHUNK, resamples - start)
        if members is None:
            yield rng.integers(0, n_clusters, size=(size, n_clusters), dtype=np.int32)
        else:
            yield np.concatenate(
                [s[rng.integers(0, len(s), size=(size, len(s)), dtype=np.int32)] for s in members], axis=1
            )


def summed_values(
    n_rows: int,
    groups: list[list[int]],
    sums: Mapping[str, RowSums],
    resamples: int,
    seed: int,
    strata: list[list[int]] | None = None,
) -> dict[str, np.ndarray]:
    """Each statistic's value on each resample of whole clusters (``groups``: row positions), drawn
    as ``_draws`` draws them (within ``strata`` where given): the clusters' column sums once, then per
    chunk of resamples the count of each cluster in each resample (a bincount) times those sums (one
    matrix product)."""
    names = list(sums)
    widths = [sums[name].columns.shape[1] for name in names]
    columns = np.concatenate([sums[name].columns for name in names], axis=1)
    by_cluster = _by_cluster(n_rows, groups, columns)
    n = len(groups)
    parts: list[np.ndarray] = []
    for chunk in _draw_chunks(n, resamples, seed, strata):
        offsets = (np.arange(len(chunk), dtype=np.int64) * n)[:, None]
        counts = np.bincount((chunk + offsets).ravel(), minlength=len(chunk) * n).reshape(len(chunk), n)
        parts.append(counts.astype(float) @ by_cluster)
    totals = np.concatenate(parts) if parts else np.zeros((0, columns.shape[1]))
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, width in zip(names, widths, strict=True):
        out[name] = np.asarray(sums[name].combine(totals[:, start : start + width]), dtype=float)
        start += width
    return out


def _by_cluster(n_rows: int, groups: list[list[int]], columns: np.ndarray) -> np.ndarray:
    owner = np.empty(n_rows, dtype=np.intp)
    for cluster, members in enumerate(groups):
        owner[members] = cluster
    out = np.zeros((len(groups), columns.shape[1]))
    np.add.at(out, owner, columns)
    return out


@dataclass(frozen=True)
class BinaryUnits:
    """A statistic that counts right units: ``right`` of ``units`` (the units it counts) are right,
    each worth ``worth``; the statistic is ``worth`` x their share (``form == "share"``: an accuracy)
    or ``worth`` x their number (``"count"``: OCRBench's points)."""

    right: int
    units: int
    worth: float
    form: str
    note: str = ""  # appended to the interval's method (why a statistic counts as binary here)

    def interval(self, level: float, what: str) -> Interval:
        """Clopper-Pearson on ``right`` of ``units`` independent units (scipy), on the statistic's
        scale. Never zero-width: at 0/n or n/n one bound is the exact one-sided bound."""
        ci = scipy_stats.binomtest(self.right, self.units).proportion_ci(
            confidence_level=level, method="exact"
        )
        scale = self.worth * (self.units if self.form == "count" else 1)
        return Interval(
            low=float(ci.low) * scale,
            high=float(ci.high) * scale,
            method=f"exact binomial (Clopper-Pearson), {self.right} of {self.units} {what} right{self.note}",
            level=level,
        )


def binary_units(
    n_rows: int, groups: list[list[int]], sums: RowSums, *, stratified: bool = False
) -> BinaryUnits | None:
    """``_binary_units``; for a ``stratified`` statistic (resampled within strata) also
    ``_stratified_boundary``."""
    found = _binary_units(n_rows, groups, sums)
    if found is None and stratified:
        found = _stratified_boundary(n_rows, groups, sums)
    return found


def _stratified_boundary(n_rows: int, groups: list[list[int]], sums: RowSums) -> BinaryUnits | None:
    """A statistic resampled within strata (MME: the sum of its categories' acc + acc+), with every
    unit it counts at its best (n/n) or every one at 0 (0/n): a stratified bootstrap has no spread
    there, and the statistic is not a share of equal units (each category weighs the same, whatever
    its size). At the boundary it is its top score (``best``) times the share of right units, so the
    exact interval of that share over all its units is its fallback, as for ``_binary_units`` at the
    boundary. None off the boundary (the bootstrap applies there) and without ``best``."""
    if sums.best is None or not groups:
        return None
    own = np.asarray(sums.combine(_by_cluster(n_rows, groups, sums.columns)), dtype=float)
    best = np.asarray(sums.combine(_by_cluster(n_rows, groups, sums.best)), dtype=float)
    counted = np.isfinite(best) & (best != 0)
    if not counted.any() or not np.isfinite(own[counted]).all():
        return None
    at_best = np.isclose(own[counted], best[counted], rtol=1e-12, atol=0)
    right, units = int(at_best.sum()), int(counted.sum())
    if right not in (0, units) or (right == 0 and not np.all(own[counted] == 0)):
        return None
    top, full = float(sums.combine(sums.best.sum(axis=0, keepdims=True))[0]), sums.value()
    if not (top > 0 and (_close(top * right / units, full) or (right == 0 and full == 0))):
        return None
    note = "; every unit at the same end, so the stratified statistic is its top score x that share"
    return BinaryUnits(right, units, top, "share", note)


def _binary_units(n_rows: int, groups: list[list[int]], sums: RowSums) -> BinaryUnits | None:
    """Whether ``sums`` counts right units among ``groups`` (independent clusters of row positions):
    each cluster's own value is 0 or its value at its best, that best value is the same for all
    clusters, and the statistic of all rows is that worth times the share (or number) of clusters at
    their best. Then the exact binomial interval applies. Decided from the data, so a statistic that
    is not binary in general (HallusionBench's mean of three accuracies, a mean grade) is binary on
    rows where every cluster is wholly right or wholly wrong, as at n/n and 0/n: the exact interval
    is then the fallback of its bootstrap at the boundary. None otherwise (and without ``best``)."""
    if sums.best is None or not groups:
        return None
    own = np.asarray(sums.combine(_by_cluster(n_rows, groups, sums.columns)), dtype=float)
    best = np.asarray(sums.combine(_by_cluster(n_rows, groups, sums.best)), dtype=float)
    counted = np.isfinite(best) & (best != 0)  # a unit the statistic counts (not another split's)
    if not counted.any():
        return None
    own, best = own[counted], best[counted]
    worth = float(best[0])
    if not (worth > 0 and np.allclose(best, worth, rtol=1e-12, atol=0) and np.isfinite(own).all()):
        return None
    at_best = np.isclose(own, worth, rtol=1e-12, atol=0)
    if not np.all(at_best | (own == 0)):
        return None
    right, units, full = int(at_best.sum()), int(counted.sum()), sums.value()
    for form, value in (("share", worth * right / units), ("count", worth * right)):
        if _close(value, full) or (value == 0 and full == 0):
            return BinaryUnits(right, units, worth, form)
    return None


def no_spread_interval(
    n_rows: int, groups: list[list[int]], sums: RowSums, level: float, what: str
) -> Interval | None:
    """The fallback where a percentile bootstrap has zero width (every unit gives the same value: a
    few identical HallusionBench groups, say) although the statistic is not a count of right units:
    the Wilson score interval (statsmodels) of its share of the top value (its value had every row
    been right, ``best``), over the number of independent clusters, as if each were one right/wrong
    trial at that rate. None without ``best`` (LLaVA-Bench's relative score has no top)."""
    from statsmodels.stats.proportion import proportion_confint

    if sums.best is None or not groups:
        return None
    top = sums.combine(sums.best.sum(axis=0, keepdims=True))[0]
    best = np.asarray(sums.combine(_by_cluster(n_rows, groups, sums.best)), dtype=float)
    units = int(np.count_nonzero(np.isfinite(best) & (best != 0)))
    value = sums.value()
    if not (math.isfinite(top) and top > 0 and units and math.isfinite(value)):
        return None
    share = min(1.0, max(0.0, value / top))
    low, high = proportion_confint(share * units, units, alpha=1 - level, method="wilson")
    return Interval(
        low=float(low) * top,
        high=float(high) * top,
        method=(
            f"Wilson score interval (statsmodels) of {share:.1%} of the top score over {units} {what}: "
            f"the percentile bootstrap has zero width (every unit gives the same value)"
        ),
        level=level,
    )


def _method(
    keys: Sequence[str],
    n_units: int,
    resamples: int,
    seed: int,
    extra: str = "",
    strata: list[list[int]] | None = None,
    strata_key: str | None = None,
) -> str:
    within = "" if strata is None else f" drawn within each of {len(strata)} {strata_key} strata"
    return (
        f"percentile bootstrap over {n_units} {describe_units(keys)}{within}, {resamples} resamples, "
        f"seed {seed}{extra}"
    )


def _percentile_interval(values: Sequence[float] | np.ndarray, level: float) -> tuple[float, float] | None:
    finite = np.asarray([_number(v) for v in values], dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    alpha = 1.0 - level
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    # rounding noise of the aggregation must not turn a degenerate set into a hair-wide interval
    return float(round(low, 10)), float(round(high, 10))


# Below this many units the generic path (the aggregation on every resample) is cheap; above it a
# decomposition of the statistic into per-unit values is tried (see ``_resampled_values``).
FAST_PATH_MIN_UNITS = 100
FAST_PATH_CHECKS = 5  # resamples on which a decomposition must reproduce the aggregation exactly


def _resampled_values(
    rows: Sequence[RowResult],
    groups: list[list[int]],
    keys: Sequence[str],
    aggregate: RowAggregate,
    names: Sequence[str],
    draws: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each metric's value on each resample (NaN where undefined).

    Generic path: the aggregation on each resample's rows. Fast path, same numbers: many headlines
    are the mean of per-unit values (share of right units, MM-Vet's mean grade), their weighted mean
    by rows, or their sum (OCRBench points / 10); then a resample's value is a sum over its drawn
    units, computed with numpy at once. A decomposition is used only when it reproduces the
    aggregation on all rows and on ``FAST_PATH_CHECKS`` resamples; otherwise the generic path runs.
    """
    resampler = _Resampler(rows, groups, keys)
    out: dict[str, np.ndarray] = {}
    pending = list(names)
    if len(groups) >= FAST_PATH_MIN_UNITS:
        per_unit = [aggregate([rows[i] for i in g]) for g in groups]
        full = aggregate(rows)
        checks = [aggregate(resampler.rows_for(d)) for d in draws[:FAST_PATH_CHECKS]]
        sizes = np.asarray([len(g) for g in groups], dtype=float)
        for name in names:
            values = np.asarray([_number(u.get(name)) for u in per_unit], dtype=float)
            form = _decomposition(values, sizes, _number(full.get(name)), len(groups))
            if form is None:
                continue
            if all(
                _close(form(d[None, :])[0], _number(c.get(name))) for d, c in zip(draws, checks, strict=False)
            ):
                out[name] = np.concatenate(
                    [form(chunk) for chunk in np.array_split(draws, max(1, len(draws) // 250))]
                )
                pending.remove(name)
    if pending:
        generic = {name: np.empty(len(draws)) for name in pending}
        for r, draw in enumerate(draws):
            result = aggregate(resampler.rows_for(draw))
            for name in pending:
                generic[name][r] = _number(result.get(name))
        out.update(generic)
    return out


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-9 * max(1.0, abs(b))


def _decomposition(
    values: np.ndarray, sizes: np.ndarray, full: float, n: int
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The form (mean, row-weighted mean, sum of per-unit values) that gives ``full`` on all units."""
    if not np.all(np.isfinite(values)) or not math.isfinite(full):
        return None
    forms: list[Callable[[np.ndarray], np.ndarray]] = [
        lambda d: values[d].mean(axis=1),
        lambda d: (values * sizes)[d].sum(axis=1) / sizes[d].sum(axis=1),
        lambda d: values[d].sum(axis=1),
    ]
    everything = np.arange(n)[None, :]
    return next((form for form in forms if _close(form(everything)[0], full)), None)


def bootstrap_intervals(
    rows: Sequence[RowResult],
    aggregate: RowAggregate,
    metrics: Mapping[str, Sequence[str]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    sums: Mapping[str, RowSums] | None = None,
    method_notes: Mapping[str, str] | None = None,
    strata: str | None = None,
) -> dict[str, Interval]:
    """A percentile-bootstrap interval per metric. ``metrics`` maps each metric name (a key of
    ``aggregate``'s result, or of ``sums``) to the unit keys its resamples must keep whole; metrics
    sharing the same keys share the same resamples. A metric with ``sums`` is computed from them on
    all resamples at once (``summed_values``; the caller has checked they give the aggregation);
    the others by ``aggregate`` on each resample's rows. Metrics left undefined get no interval.
    ``method_notes``: text appended to a metric's ``Interval.method``. ``strata``: a stratum key
    (``stratum_of``; the metric's ``Metric.strata``): each resample draws every stratum's units among
    its own, as many as it has (a stratified bootstrap); None: among all units."""
    out: dict[str, Interval] = {}
    by_keys: dict[tuple[str, ...], list[str]] = {}
    for name, keys in metrics.items():
        by_keys.setdefault(tuple(keys), []).append(name)
    for keys, names in by_keys.items():
        groups = clusters(rows, keys)
        if not groups:
            continue
        within = None if strata is None else cluster_strata(rows, groups, strata)
        summed = {name: sums[name] for name in names if sums is not None and name in sums}
        values = summed_values(len(rows), groups, summed, resamples, seed, within) if summed else {}
        rest = [name for name in names if name not in summed]
        if rest:
            draws = _draws(len(groups), resamples, seed, within)
            values.update(_resampled_values(rows, groups, keys, aggregate, rest, draws))
        for name in names:
            bounds = _percentile_interval(values[name], level)
            if bounds is not None:
                note = (method_notes or {}).get(name, "")
                if bounds[0] == bounds[1]:  # every unit has the same value: no spread to resample
                    note += "; zero width: every unit has the same value, so resampling shows no spread"
                out[name] = Interval(
                    low=bounds[0],
                    high=bounds[1],
                    method=_method(keys, len(groups), resamples, seed, note, within, strata),
                    level=level,
                )
    return out


def bootstrap_interval(
    rows: Sequence[RowResult],
    statistic: RowStatistic,
    *,
    keys: Sequence[str] = (UNIT,),
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval | None:
    """The interval of one statistic of rows (see ``bootstrap_intervals``)."""
    found = bootstrap_intervals(
        rows, lambda r: {"value": statistic(r)}, {"value": keys}, resamples=resamples, seed=seed, level=level
    )
    return found.get("value")


# --------------------------------------------------------------------------------------------------
# Exact binomial (scipy.stats)
# --------------------------------------------------------------------------------------------------
def clopper_pearson(successes: int, trials: int, level: float = DEFAULT_LEVEL) -> Interval:
    """Exact (Clopper-Pearson) interval of a proportion, on the 0-100 scale; valid where the score is
    a plain proportion of independent rows."""
    ci = scipy_stats.binomtest(successes, trials).proportion_ci(confidence_level=level, method="exact")
    return Interval(
        low=float(ci.low) * 100,
        high=float(ci.high) * 100,
        method=f"exact binomial (Clopper-Pearson), {successes} of {trials} independent rows",
        level=level,
    )


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: ``a_only`` units right in A and
    wrong in B, ``b_only`` the reverse (a binomial test of ``b_only`` of ``a_only + b_only`` at 1/2).
    No discordant pair: no evidence of a difference, p = 1."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(scipy_stats.binomtest(b_only, n, 0.5).pvalue)


# --------------------------------------------------------------------------------------------------
# Paired comparison of two runs over the same units
# --------------------------------------------------------------------------------------------------
@dataclass
class PairedResult:
    """B - A on the rows both runs scored, 0-100 scale."""

    a: float | None
    b: float | None
    difference: float | None
    interval: Interval | None
    p_value: float | None
    test: str  # "exact McNemar on N units" / "paired bootstrap ..."
    n_units: int
    a_only: int = 0  # units right in A only (right/wrong units)
    b_only: int = 0  # units right in B only
    standard_error: float | None = None  # of the difference, from the paired bootstrap
    mde: float | None = None  # smallest |B - A| detectable at 80% power, two-sided 5%
    mde_method: str = ""


def pair_rows(
    rows_a: Sequence[RowResult], rows_b: Sequence[RowResult]
) -> tuple[list[RowResult], list[RowResult]]:
    """The rows both runs have (matched by index), in A's order."""
    by_index_b = {str(r.index): r for r in rows_b}
    common_a = [r for r in rows_a if str(r.index) in by_index_b]
    return common_a, [by_index_b[str(r.index)] for r in common_a]


def unit_values(rows: Sequence[RowResult], key: str = UNIT) -> dict[str, float]:
    """Each unit's outcome: 1 when every scored row of the unit is right (the MMBench circular rule,
    HallusionBench's group accuracies), else 0; for graded rows the unit's mean score. Units whose
    rows are all unscored are left out."""
    scores: dict[str, list[float]] = {}
    for row in rows:
        if row.score is not None:
            scores.setdefault(unit_of(row, key), []).append(float(row.score))
    return {
        name: (min(values) if set(values) <= {0.0, 1.0} else float(np.mean(values)))
        for name, values in scores.items()
    }


def is_right_wrong(rows: Sequence[RowResult]) -> bool:
    return all(r.score in (0, 1) for r in rows if r.score is not None)


def paired_comparison(
    rows_a: Sequence[RowResult],
    rows_b: Sequence[RowResult],
    statistic: RowStatistic,
    *,
    keys: Sequence[str] = (UNIT,),
    mcnemar: bool = True,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    power: float = DEFAULT_POWER,
    sums: Callable[[Sequence[RowResult]], RowSums | None] | None = None,
    strata: str | None = None,
) -> PairedResult:
    """B - A of ``statistic`` on the common rows. The paired bootstrap draws the same units for A and
    B (a resample never splits a unit), which gives the interval and the standard error of the
    difference. ``mcnemar`` (right/wrong units whose statistic is the share of right units): the
    p-value is exact McNemar on the units' outcomes; otherwise it is the bootstrap's two-sided
    p-value (twice the smaller share of resampled differences on either side of 0). ``sums``: the
    statistic as column sums of given rows (the family's ``row_sums``), used for both runs' resamples
    at once where it reproduces ``statistic`` on them (same draws, same values). ``strata``: the units
    are drawn within strata (``bootstrap_intervals``; A's rows name them)."""
    a_rows, b_rows = pair_rows(rows_a, rows_b)
    a_value, b_value = statistic(a_rows), statistic(b_rows)
    difference = None if a_value is None or b_value is None else b_value - a_value
    groups = paired_clusters(a_rows, b_rows, keys)
    result = PairedResult(a_value, b_value, difference, None, None, "", n_units=len(groups))
    if difference is None or not groups:
        result.test = "not compared: no common scored rows"
        return result
    within = None if strata is None else cluster_strata(a_rows, groups, strata)

    def as_aggregate(rows: Sequence[RowResult]) -> dict[str, float | None]:
        return {"value": statistic(rows)}

    def values(rows: list[RowResult], full: float) -> np.ndarray:
        found = sums(rows) if sums is not None else None
        if found is not None and _close(found.value(), full):
            return summed_values(len(rows), groups, {"value": found}, resamples, seed, within)["value"]
        draws = _draws(len(groups), resamples, seed, within)
        return _resampled_values(rows, groups, keys, as_aggregate, ["value"], draws)["value"]

    va, vb = values(a_rows, a_value), values(b_rows, b_value)
    diffs = (vb - va)[np.isfinite(vb - va)]
    bounds = _percentile_interval(diffs, level)
    if bounds is not None:
        result.interval = Interval(
            low=bounds[0],
            high=bounds[1],
            method="paired " + _method(keys, len(groups), resamples, seed, "", within, strata),
            level=level,
        )
    spread = diffs
    result.standard_error = float(round(spread.std(ddof=1), 10)) if spread.size > 1 else None

    if mcnemar:
        ua, ub = unit_values(a_rows, keys[0]), unit_values(b_rows, keys[0])
        common = [u for u in ua if u in ub]
        result.a_only = sum(1 for u in common if ua[u] == 1 and ub[u] == 0)
        result.b_only = sum(1 for u in common if ua[u] == 0 and ub[u] == 1)
        result.p_value = mcnemar_exact(result.a_only, result.b_only)
        result.test = (
            f"exact McNemar on {len(common)} {describe_units(keys[:1])} "
            f"({result.a_only} right only in A, {result.b_only} right only in B)"
        )
    else:
        result.p_value = _bootstrap_p_value(spread)
        result.test = f"paired bootstrap on {len(groups)} {describe_units(keys)}"
    independent = math.sqrt(_spread(va) ** 2 + _spread(vb) ** 2)
    result.mde, result.mde_method = minimal_detectable_difference(
        result.standard_error, independent, level=level, power=power
    )
    return result


def _spread(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def _bootstrap_p_value(diffs: np.ndarray) -> float | None:
    if diffs.size == 0:
        return None
    below = (np.count_nonzero(diffs <= 0) + 1) / (diffs.size + 1)
    above = (np.count_nonzero(diffs >= 0) + 1) / (diffs.size + 1)
    return float(min(1.0, 2 * min(below, above)))


def minimal_detectable_difference(
    standard_error: float | None,
    independent_error: float | None = None,
    *,
    level: float = DEFAULT_LEVEL,
    power: float = DEFAULT_POWER,
) -> tuple[float | None, str]:
    """Smallest true |B - A| that a two-sided test at ``1 - level`` detects with probability
    ``power``: (z_{1-alpha/2} + z_{power}) x SE of the difference (normal approximation), the SE
    from the paired bootstrap. When the runs agree on every unit that SE is 0, which says nothing
    about what could be detected; then ``independent_error`` is used, the SE of the difference of two
    independent runs (from each run's own bootstrap spread). None when neither run varies."""
    z = float(scipy_stats.norm.ppf(1 - (1 - level) / 2) + scipy_stats.norm.ppf(power))
    tail = f"{power:.0%} power, {1 - level:.0%} two-sided"
    if standard_error is not None and standard_error > 0:
        return z * standard_error, f"{z:.2f} x paired-bootstrap SE, {tail}"
    if independent_error is not None and independent_error > 0:
        return (
            z * independent_error,
            f"{z:.2f} x SE of two independent runs (the runs agree on every unit), {tail}",
        )
    return None, "neither run varies under resampling"


# --------------------------------------------------------------------------------------------------
# Multiple comparisons
# --------------------------------------------------------------------------------------------------
def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (family-wise error) of the p-values that are not None, in input
    order: the i-th smallest of m is multiplied by (m - i + 1), made monotone, capped at 1."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


# --------------------------------------------------------------------------------------------------
# Censoring
# --------------------------------------------------------------------------------------------------
def is_censored(row: RowResult) -> bool:
    """The row's outcome is not the model's own answer: generation was cut by the token limit, or no
    rule and no judge decided it (the protocol's fallback, nothing parsed, the judge failed), or a
    thinking-mode reply never closed its reasoning (``models.internvl.thinking.mark_censored``)."""
    return (
        row.hit_token_limit or row.decided_by in CENSORED_DECISIONS or bool(row.extra.get(THINKING_CENSORED))
    )


def censoring_bounds(
    rows: Sequence[RowResult], statistic: RowStatistic, *, best_score: float = 1.0
) -> tuple[float, float] | None:
    """(statistic if every censored row were wrong, ... if every one were right, with ``best_score``),
    or None when no row is censored or the statistic is undefined. Unscored rows (``skipped``) stay
    unscored."""
    if not any(is_censored(r) for r in rows):
        return None

    def with_censored(value: float) -> float | None:
        changed = [
            dataclasses.replace(r, score=value) if is_censored(r) and r.score is not None else r for r in rows
        ]
        return statistic(changed)

    low, high = with_censored(0.0), with_censored(best_score)
    if low is None or high is None:
        return None
    return (min(low, high), max(low, high))


def bounds_wider_than_interval(bounds: tuple[float, float] | None, interval: Interval | None) -> bool:
    if bounds is None or interval is None:
        return False
    return (bounds[1] - bounds[0]) > (interval.high - interval.low)
