"""Prediction-powered inference (PPI) of a benchmark score: a cheap judge on every scoring unit, the
protocol's judge on a seeded random sample of them, and an estimate of the score the protocol's judge
would give, with an interval that includes the cheap judge's error.

The estimator and its interval are ``ppi_py`` 's (the ``ppi-python`` package of Angelopoulos et al.):
``ppi_mean_ci`` with the power-tuning parameter lambda chosen from the data (PPI++, Angelopoulos, Duchi
and Zrnic, arXiv 2311.01453), so the interval is never wider, asymptotically, than the protocol judge's
classical interval on the sample alone (lambda = 0). With ``Y`` the protocol judge's unit scores on the
n sampled units, ``f`` the cheap judge's, and ``f~`` the cheap judge's on the N - n other units::

    estimate = lambda * mean(f~) + mean(Y - lambda * f)
    variance = lambda^2 var(f~) / (N - n) + var(Y - lambda * f) / n

The sampled and the other units are disjoint, as the method assumes (Angelopoulos et al., Science 382,
2023): both are independent draws from the benchmark's population of questions, which is also what the
project's bootstrap intervals describe. Where the benchmark has categories the sample is stratified
(``allocate``: proportional allocation, every category at least one unit when the sample allows), and
``stratum_weights`` reweights both sets to the categories' shares, so unequal inclusion by rounding
does not bias the estimate (ppi_py's ``w``/``w_unlabeled``; Fisch et al., arXiv 2406.04291, for
stratified PPI). The interval treats the weighted sample as one simple random sample, which ignores the
variance stratification removes: conservative, never too narrow.

Every function takes 2-D arrays (one column per independent problem) so that the coverage simulation
in the tests runs thousands of seeds in one call.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from vleval.stats.core import DEFAULT_LEVEL


@dataclass
class PPIResult:
    """Arrays of one value per column (problem): the PPI estimate, its interval, its standard error,
    and the classical standard error of the protocol judge on the sample alone."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    se: np.ndarray
    classical_se: np.ndarray  # sd(Y) / sqrt(n): the sampled units judged by the protocol's judge alone
    labelled_sd: np.ndarray  # sd(Y) on the sample: projects the interval of a full protocol-judge run

    def effective_units(self) -> np.ndarray:
        """How many units judged by the protocol's judge alone would give the PPI estimate's variance:
        var(Y) / var(PPI). NaN where undefined (no spread)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.se > 0, self.labelled_sd**2 / self.se**2, np.nan)


def _ppi():
    # ppi_py imports numba and scikit-learn (seconds): only when an estimate is asked for. Its import
    # runs warnings.simplefilter("ignore") for the whole process; the filters are restored after it.
    try:
        with warnings.catch_warnings():
            import ppi_py
    except ImportError:
        from vleval.errors import VlevalError

        raise VlevalError(
            "judge-calibrate needs the ppi-python package: pip install 'vleval[calibrate]' "
            "(or pip install ppi-python statsmodels scikit-learn numba)."
        ) from None
    return ppi_py


def ppi_mean(
    y: np.ndarray,
    f_labelled: np.ndarray,
    f_unlabelled: np.ndarray,
    *,
    w_labelled: np.ndarray | None = None,
    w_unlabelled: np.ndarray | None = None,
    level: float = DEFAULT_LEVEL,
) -> PPIResult:
    """PPI++ estimate of the mean of ``y`` (protocol judge, sampled units, shape (n,) or (n, d)) from
    ``f_labelled`` (cheap judge, the same units) and ``f_unlabelled`` (cheap judge, the other units).
    Weights: per unit, the same for every column (``stratum_weights``)."""
    ppi = _ppi()
    y, f_l, f_u = (np.asarray(a, dtype=float) for a in (y, f_labelled, f_unlabelled))
    y, f_l, f_u = (a[:, None] if a.ndim == 1 else a for a in (y, f_l, f_u))
    n, d = y.shape
    if n < 2 or f_u.shape[0] < 1:
        raise ValueError("PPI needs at least 2 sampled units and 1 unit outside the sample")
    alpha = 1.0 - level
    w_l = None if w_labelled is None else np.asarray(w_labelled, dtype=float)
    w_u = None if w_unlabelled is None else np.asarray(w_unlabelled, dtype=float)
    low, high = ppi.ppi_mean_ci(y, f_l, f_u, alpha=alpha, w=w_l, w_unlabeled=w_u, lam_optim_mode="element")
    low, high = np.asarray(low, dtype=float).reshape(d), np.asarray(high, dtype=float).reshape(d)
    # lambda undefined (the cheap judge gave one and the same score everywhere): plain PPI, lambda 1
    flat = ~np.isfinite(low) | ~np.isfinite(high)
    if flat.any():
        low1, high1 = ppi.ppi_mean_ci(y, f_l, f_u, alpha=alpha, lam=1.0, w=w_l, w_unlabeled=w_u)
        low = np.where(flat, np.asarray(low1, dtype=float).reshape(d), low)
        high = np.where(flat, np.asarray(high1, dtype=float).reshape(d), high)
    z = norm.ppf(1.0 - alpha / 2.0)
    weights = np.ones((n, 1)) if w_l is None else (w_l / w_l.sum() * n)[:, None]
    labelled_sd = (weights * y).std(axis=0)
    return PPIResult(
        estimate=(low + high) / 2.0,  # ppi_py's interval is the z-interval around the estimate
        low=low,
        high=high,
        se=(high - low) / (2.0 * z),
        classical_se=labelled_sd / np.sqrt(n),
        labelled_sd=labelled_sd,
    )


# --------------------------------------------------------------------------------------------------
# the sample: seeded, whole units, stratified by category
# --------------------------------------------------------------------------------------------------
def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """Units to sample per stratum: proportional to its size (largest remainder), every stratum at
    least one when ``n`` allows, never more than the stratum has. Deterministic."""
    total = sum(sizes.values())
    n = max(0, min(n, total))
    names = sorted(sizes)
    exact = {s: n * sizes[s] / total for s in names} if total else dict.fromkeys(names, 0.0)
    out = {s: int(exact[s]) for s in names}
    for s in sorted(names, key=lambda s: (-(exact[s] - out[s]), s))[: n - sum(out.values())]:
        out[s] += 1
    if n >= len(names):  # no empty stratum: its bias would be missing from the correction
        for s in names:
            while out[s] == 0:
                donor = max(names, key=lambda t: (out[t] - 1 if out[t] > 1 else -1, t))
                out[donor] -= 1
                out[s] += 1
    return {s: min(out[s], sizes[s]) for s in names}


def sample_units(strata: Mapping[str, str], n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` units (unit -> stratum), stratified by ``allocate``; sorted. Each
    stratum's units are put in one seeded random order and the sample takes its first units, so a
    larger ``n`` with the same seed keeps the smaller sample (growing it asks the judge only about the
    units added; the others are in the judge cache)."""
    by_stratum: dict[str, list[str]] = {}
    for unit in sorted(strata):
        by_stratum.setdefault(strata[unit], []).append(unit)
    counts = allocate({s: len(u) for s, u in by_stratum.items()}, n)
    chosen: list[str] = []
    for stratum, units in sorted(by_stratum.items()):
        order = random.Random(f"vleval-ppi:{seed}:{stratum}").sample(units, len(units))
        chosen += order[: counts[stratum]]
    return sorted(chosen)


def stratum_weights(
    strata: Mapping[str, str], sampled: Sequence[str]
) -> tuple[dict[str, float], dict[str, float]] | None:
    """Per-unit weights (sampled, others) that give each stratum its share of the benchmark in both
    sets; None where every weight would be 1 (one stratum, or exactly proportional), or where a
    stratum is wholly in one set (no weight can give it its share in the other: the plain estimator,
    with the near-proportional sample, is used)."""
    chosen = set(sampled)
    size: dict[str, int] = {}
    in_sample: dict[str, int] = {}
    for unit, stratum in strata.items():
        size[stratum] = size.get(stratum, 0) + 1
        in_sample[stratum] = in_sample.get(stratum, 0) + (unit in chosen)
    total, n = sum(size.values()), len(chosen)
    rest = total - n
    if any(in_sample[s] in (0, size[s]) for s in size):
        return None
    w_l = {s: (size[s] / total) / (in_sample[s] / n) for s in size if in_sample[s]}
    w_u = {s: (size[s] / total) / ((size[s] - in_sample[s]) / rest) for s in size if size[s] > in_sample[s]}
    if all(abs(v - 1.0) < 1e-12 for v in [*w_l.values(), *w_u.values()]):
        return None
    return (
        {u: w_l[strata[u]] for u in strata if u in chosen},
        {u: w_u[strata[u]] for u in strata if u not in chosen},
    )
