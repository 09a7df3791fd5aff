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
Documented in ``docs/statistics.md`` (sampled decoding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vleval.stats.core import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    SUM_CHUNK,
    RowAggregate,
    RowSums,
    _by_cluster,
    _close,
    _number,
    _percentile_interval,
    _Resampler,
    clusters,
    describe_units,
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
) -> SeedPooled:
    """``aggregate(rows)[headline_key]`` pooled over the seeds' rows (one list per seed, ``seeds``
    naming them), units kept whole under ``keys``; ``seed`` seeds the bootstrap itself.
    ``headline_sums``: the headline as column sums of rows (from ``Family.row_sums``), which give every
    resample at once (same numbers) where they reproduce each seed's aggregation; otherwise the
    aggregation runs on each resample (slow at published sizes)."""
    per_seed_rows = aligned(rows_by_seed)
    per_seed = [_number(aggregate(rows).get(headline_key)) for rows in per_seed_rows]
    defined = [v for v in per_seed if not np.isnan(v)]
    value = float(np.mean(defined)) if len(defined) == len(per_seed) else None
    shown = [None if np.isnan(v) else v for v in per_seed]
    groups = clusters(per_seed_rows[0], keys)
    if value is None or not groups:
        return SeedPooled(value, shown, None)
    draws = _draws(len(groups), len(per_seed_rows), resamples, seed)
    sums_by_seed = [headline_sums(rows) for rows in per_seed_rows] if headline_sums is not None else None
    if sums_by_seed is not None and _sums_reproduce(sums_by_seed, per_seed):
        values = _summed(per_seed_rows, groups, sums_by_seed, draws)  # type: ignore[arg-type]
    else:
        values = _aggregated(per_seed_rows, groups, keys, aggregate, headline_key, draws)
    bounds = _percentile_interval(values, level)
    if bounds is None:
        return SeedPooled(value, shown, None)
    method = (
        f"bootstrap over {describe_units(keys)} ({len(groups)}) and, per unit, one of {len(seeds)} sampling "
        f"seeds ({', '.join(map(str, seeds))}), {resamples} resamples, seed {seed}"
    )
    return SeedPooled(value, shown, Interval(low=bounds[0], high=bounds[1], method=method, level=level))


def _draws(n_units: int, n_seeds: int, resamples: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per chunk of resamples: the drawn units (with replacement) and, per drawn unit, its seed."""
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, resamples, SUM_CHUNK):
        size = (min(SUM_CHUNK, resamples - start), n_units)
        out.append((rng.integers(0, n_units, size=size), rng.integers(0, n_seeds, size=size)))
    return out


def _sums_reproduce(sums_by_seed: Sequence[RowSums | None], per_seed: Sequence[float]) -> bool:
    return all(s is not None and _close(s.value(), v) for s, v in zip(sums_by_seed, per_seed, strict=True))


def _summed(
    per_seed_rows: Sequence[Sequence[RowResult]],
    groups: list[list[int]],
    sums_by_seed: Sequence[RowSums],
    draws: list[tuple[np.ndarray, np.ndarray]],
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
    draws: list[tuple[np.ndarray, np.ndarray]],
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
