"""A score of sampled decoding over several seeds, with an interval that includes the seeds' spread.

A model that samples (temperature > 0: the InternVL3.5 thinking entries) gives another answer per
seed, so one run's score carries two kinds of chance: which questions the benchmark holds and which
tokens were drawn. Run with ``--seeds N``, the score is the mean of the N runs' scores, and its
interval comes from a two-way bootstrap: each resample draws the benchmark's scoring units with
replacement (kept whole as in every other interval, ``stats.core.clusters``) and, for each drawn unit,
one of the N seeds uniformly, then computes the benchmark's own aggregation on those rows. The spread
of these resamples is that of a score made on other questions with other draws of the sampler; it
includes the between-seed variance in full (as a single seed's run has it), so it is conservative for
the mean of N seeds and never narrower than the questions alone would give when the seeds disagree.
``vleval compare`` of two such runs (``paired_seed_comparison``) draws the same way, paired: the same
units for both runs and, per drawn unit, a seed of each run. Documented in ``docs/statistics.md``
(sampled decoding).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vleval.stats.core import (
    DEFAULT_LEVEL,
    DEFAULT_POWER,
    DEFAULT_RESAMPLES,
    SUM_CHUNK,
    UNIT,
    PairedResult,
    RowAggregate,
    RowStatistic,
    RowSums,
    _bootstrap_p_value,
    _by_cluster,
    _close,
    _number,
    _percentile_interval,
    _Resampler,
    _spread,
    cluster_strata,
    clusters,
    describe_units,
    minimal_detectable_difference,
    pair_rows,
    paired_clusters,
)
from vleval.types import Interval, RowResult


@dataclass
class SeedPooled:
    """The mean of the seeds' headlines and its seed-and-question interval."""

    value: float | None
    per_seed: list[float | None]
    interval: Interval | None


def aligned(rows_by_seed: Sequence[Sequence[RowResult]]) -> list[list[RowResult]]:
    """Each seed's rows in the first seed's row order (by index); a seed lacking a row is an error:
    the seeds must have scored the same rows to be pooled."""
    first = list(rows_by_seed[0])
    out = [first]
    for number, rows in enumerate(rows_by_seed[1:], start=1):
        by_index = {str(r.index): r for r in rows}
        missing = [str(r.index) for r in first if str(r.index) not in by_index]
        if missing or len(by_index) != len(first):
            raise ValueError(
                f"seed run {number} scored other rows than the first (index {', '.join(missing[:5])}); "
                "the seeds cannot be pooled"
            )
        out.append([by_index[str(r.index)] for r in first])
    return out


def seed_pooled_headline(
    rows_by_seed: Sequence[Sequence[RowResult]],
    aggregate: RowAggregate,
    headline_key: str,
    keys: Sequence[str],
    *,
    seeds: Sequence[int],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    headline_sums: Callable[[Sequence[RowResult]], RowSums | None] | None = None,
    strata: str | None = None,
) -> SeedPooled:
    """``aggregate(rows)[headline_key]`` pooled over the seeds' rows (one list per seed, ``seeds``
    naming them), units kept whole under ``keys``; ``seed`` seeds the bootstrap itself.
    ``headline_sums``: the headline as column sums of rows (from ``Family.row_sums``), which give every
    resample at once (same numbers) where they reproduce each seed's aggregation; otherwise the
    aggregation runs on each resample (slow at published sizes). ``strata``: the metric's stratum key
    (``Metric.strata``): units are drawn within strata."""
    per_seed_rows = aligned(rows_by_seed)
    per_seed = [_number(aggregate(rows).get(headline_key)) for rows in per_seed_rows]
    defined = [v for v in per_seed if not np.isnan(v)]
    value = float(np.mean(defined)) if len(defined) == len(per_seed) else None
    shown = [None if np.isnan(v) else v for v in per_seed]
    groups = clusters(per_seed_rows[0], keys)
    if value is None or not groups:
        return SeedPooled(value, shown, None)
    within = None if strata is None else cluster_strata(per_seed_rows[0], groups, strata)
    (draws,) = side_draws(len(groups), [len(per_seed_rows)], resamples, seed, within)
    values = resampled_values(
        per_seed_rows, per_seed, groups, keys, aggregate, headline_key, draws, headline_sums
    )
    bounds = _percentile_interval(values, level)
    if bounds is None:
        return SeedPooled(value, shown, None)
    method = (
        f"bootstrap over {describe_units(keys)} ({len(groups)}) and, per unit, one of {len(seeds)} sampling "
        f"seeds ({', '.join(map(str, seeds))}), {resamples} resamples, seed {seed}"
        + ("" if within is None else f", units drawn within each of {len(within)} {strata} strata")
    )
    return SeedPooled(value, shown, Interval(low=bounds[0], high=bounds[1], method=method, level=level))


# Per chunk of resamples: the drawn units (chunk x units) and, for each drawn unit, its seed
Draws = list[tuple[np.ndarray, np.ndarray]]


def side_draws(
    n_units: int,
    seed_counts: Sequence[int],
    resamples: int,
    seed: int,
    strata: list[list[int]] | None = None,
) -> list[Draws]:
    """The two-way resamples of one run or of a pair of runs over the same units: per chunk, the
    units drawn with replacement (shared by every side: paired) and then, for each side in turn and
    each drawn unit, one of that side's ``seed_counts[side]`` seeds uniformly. One ``Draws`` per side.
    One side gives the stream a single run's pooled interval has always drawn. ``strata`` (unit
    positions per stratum, ``core.cluster_strata``): each stratum's units are drawn among its own, as
    the one-seed bootstrap draws them (MME's categories)."""
    rng = np.random.default_rng(seed)
    members = None if strata is None else [np.asarray(s) for s in strata]
    out: list[Draws] = [[] for _ in seed_counts]
    for start in range(0, resamples, SUM_CHUNK):
        size = (min(SUM_CHUNK, resamples - start), n_units)
        if members is None:
            units = rng.integers(0, n_units, size=size)
        else:
            units = np.concatenate(
                [m[rng.integers(0, len(m), size=(size[0], len(m)))] for m in members], axis=1
            )
        for side, n_seeds in enumerate(seed_counts):
            out[side].append((units, rng.integers(0, n_seeds, size=size)))
    return out


def resampled_values(
    per_seed_rows: Sequence[Sequence[RowResult]],
    per_seed: Sequence[float],
    groups: list[list[int]],
    keys: Sequence[str],
    aggregate: RowAggregate,
    headline_key: str,
    draws: Draws,
    headline_sums: Callable[[Sequence[RowResult]], RowSums | None] | None = None,
) -> np.ndarray:
    """The headline of every two-way resample of one run's seeds (``per_seed_rows``, aligned, whose
    headlines are ``per_seed``; ``groups``: the units as row positions): from the family's column
    sums where they reproduce every seed's headline, else from the aggregation on each resample."""
    sums_by_seed = [headline_sums(rows) for rows in per_seed_rows] if headline_sums is not None else None
    if sums_by_seed is not None and _sums_reproduce(sums_by_seed, per_seed):
        return _summed(per_seed_rows, groups, sums_by_seed, draws)  # type: ignore[arg-type]
    return _aggregated(per_seed_rows, groups, keys, aggregate, headline_key, draws)


def _sums_reproduce(sums_by_seed: Sequence[RowSums | None], per_seed: Sequence[float]) -> bool:
    return all(s is not None and _close(s.value(), v) for s, v in zip(sums_by_seed, per_seed, strict=True))


def _summed(
    per_seed_rows: Sequence[Sequence[RowResult]],
    groups: list[list[int]],
    sums_by_seed: Sequence[RowSums],
    draws: Draws,
) -> np.ndarray:
    """Every resample's value from the units' column sums under each seed (one gather per chunk)."""
    n = len(groups)
    by_unit = np.concatenate(
        [
            _by_cluster(len(rows), groups, s.columns)
            for rows, s in zip(per_seed_rows, sums_by_seed, strict=True)
        ]
    )
    combine = sums_by_seed[0].combine
    parts = [
        np.asarray(combine(by_unit[seeds * n + units].sum(axis=1)), dtype=float) for units, seeds in draws
    ]
    return np.concatenate(parts)


def _aggregated(
    per_seed_rows: Sequence[Sequence[RowResult]],
    groups: list[list[int]],
    keys: Sequence[str],
    aggregate: RowAggregate,
    headline_key: str,
    draws: Draws,
) -> np.ndarray:
    """Every resample's value from the aggregation on its rows (a unit drawn k times: k distinct units)."""
    resamplers = [_Resampler(rows, groups, keys) for rows in per_seed_rows]
    values = []
    for units_chunk, seeds_chunk in draws:
        for units, which in zip(units_chunk.tolist(), seeds_chunk.tolist(), strict=True):
            copies: dict[int, int] = {}
            resampled: list[RowResult] = []
            for unit, k in sorted(zip(units, which, strict=True)):
                copy = copies.get(unit, 0)
                copies[unit] = copy + 1
                resampled.extend(resamplers[k]._copy(unit, copy))
            values.append(_number(aggregate(resampled).get(headline_key)))
    return np.asarray(values, dtype=float)


def paired_seed_comparison(
    seeds_a: Sequence[Sequence[RowResult]],
    seeds_b: Sequence[Sequence[RowResult]],
    statistic: RowStatistic,
    *,
    keys: Sequence[str] = (UNIT,),
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    power: float = DEFAULT_POWER,
    sums: Callable[[Sequence[RowResult]], RowSums | None] | None = None,
    strata: str | None = None,
) -> PairedResult:
    """B - A of two runs of which at least one has several sampling seeds (each side: one list of
    rows per seed, its first seed's first; a side may have one), on the rows both scored: each side's
    score is the mean of its seeds' ``statistic``, as its pooled record's headline. The interval
    resamples as ``seed_pooled_headline`` does for one run, paired: the same units for both sides and,
    per drawn unit, one seed of each side drawn on its own (``side_draws``); the p-value is the
    bootstrap's (McNemar's units have one outcome per run, not one per seed)."""
    a_seeds, b_seeds = aligned(seeds_a), aligned(seeds_b)
    # the common rows, in A's first seed's order: every seed of a side scored the same rows
    a_first, b_first = pair_rows(a_seeds[0], b_seeds[0])
    a_rows = [pair_rows(rows, b_first)[0] for rows in a_seeds]
    b_rows = [pair_rows(a_first, rows)[1] for rows in b_seeds]
    a_per_seed = [_number(statistic(rows)) for rows in a_rows]
    b_per_seed = [_number(statistic(rows)) for rows in b_rows]
    a_value, b_value = _mean_if_defined(a_per_seed), _mean_if_defined(b_per_seed)
    difference = None if a_value is None or b_value is None else b_value - a_value
    groups = paired_clusters(a_first, b_first, keys)
    result = PairedResult(a_value, b_value, difference, None, None, "", n_units=len(groups))
    if difference is None or not groups:
        result.test = "not compared: no common scored rows"
        return result

    def as_aggregate(rows: Sequence[RowResult]) -> dict[str, float | None]:
        return {"value": statistic(rows)}

    within = None if strata is None else cluster_strata(a_first, groups, strata)
    draws_a, draws_b = side_draws(len(groups), [len(a_rows), len(b_rows)], resamples, seed, within)
    va = resampled_values(a_rows, a_per_seed, groups, keys, as_aggregate, "value", draws_a, sums)
    vb = resampled_values(b_rows, b_per_seed, groups, keys, as_aggregate, "value", draws_b, sums)
    diffs = (vb - va)[np.isfinite(vb - va)]
    counts = f"sampling seeds A {len(a_rows)}, B {len(b_rows)}"
    bounds = _percentile_interval(diffs, level)
    if bounds is not None:
        result.interval = Interval(
            low=bounds[0],
            high=bounds[1],
            method=(
                f"paired bootstrap over {describe_units(keys)} ({len(groups)}) and, per unit and side, one "
                f"of its seeds ({counts}), {resamples} resamples, seed {seed}"
            ),
            level=level,
        )
    result.standard_error = float(round(diffs.std(ddof=1), 10)) if diffs.size > 1 else None
    result.p_value = _bootstrap_p_value(diffs)
    result.test = f"paired bootstrap on {len(groups)} {describe_units(keys)} and {counts}"
    independent = math.sqrt(_spread(va) ** 2 + _spread(vb) ** 2)
    result.mde, result.mde_method = minimal_detectable_difference(
        result.standard_error, independent, level=level, power=power
    )
    return result


def _mean_if_defined(per_seed: Sequence[float]) -> float | None:
    """The seeds' mean score (as ``seed_pooled_headline`` makes it); None where a seed's is undefined."""
    return None if any(np.isnan(v) for v in per_seed) else float(np.mean(per_seed))
