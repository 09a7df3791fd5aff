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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vleval.stats.core import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    RowAggregate,
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
) -> SeedPooled:
    """``aggregate(rows)[headline_key]`` pooled over the seeds' rows (one list per seed, ``seeds``
    naming them), units kept whole under ``keys``; ``seed`` seeds the bootstrap itself."""
    per_seed_rows = aligned(rows_by_seed)
    per_seed = [_number(aggregate(rows).get(headline_key)) for rows in per_seed_rows]
    defined = [v for v in per_seed if not np.isnan(v)]
    value = float(np.mean(defined)) if len(defined) == len(per_seed) else None
    shown = [None if np.isnan(v) else v for v in per_seed]
    groups = clusters(per_seed_rows[0], keys)
    if value is None or not groups:
        return SeedPooled(value, shown, None)
    resamplers = [_Resampler(rows, groups, keys) for rows in per_seed_rows]
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        units = rng.integers(0, len(groups), size=len(groups))
        which = rng.integers(0, len(per_seed_rows), size=len(groups))
        copies: dict[int, int] = {}
        resampled: list[RowResult] = []
        for unit, k in sorted(zip(units.tolist(), which.tolist(), strict=True)):
            copy = copies.get(unit, 0)
            copies[unit] = copy + 1
            resampled.extend(resamplers[k]._copy(unit, copy))  # copies of a unit stay distinct units
        values[r] = _number(aggregate(resampled).get(headline_key))
    bounds = _percentile_interval(values, level)
    if bounds is None:
        return SeedPooled(value, shown, None)
    method = (
        f"bootstrap over {describe_units(keys)} ({len(groups)}) and, per unit, one of {len(seeds)} sampling "
        f"seeds ({', '.join(map(str, seeds))}), {resamples} resamples, seed {seed}"
    )
    return SeedPooled(value, shown, Interval(low=bounds[0], high=bounds[1], method=method, level=level))
