"""Prediction-powered inference (``vleval.stats.ppi``): the nominal 95 % interval covers the protocol
judge's true score about 95 % of the time when the cheap judge has a known bias, while the cheap
judge's own interval does not; the stratified sample is allocated as worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vleval.stats.ppi import allocate, ppi_mean, sample_units, stratum_weights

SEEDS = 2000  # simulated benchmarks; the coverage's standard error is about 0.5 points
CHUNK = 250  # ppi_py's per-column lambda works with d x d matrices: solve in slices


def _biased_judge(
    truth: np.ndarray, rng: np.random.Generator, *, false_pos: float, false_neg: float
) -> np.ndarray:
    """The cheap judge: the protocol judge's verdict flipped with known rates (right read as wrong
    ``false_neg`` of the time, wrong read as right ``false_pos``)."""
    flip = np.where(truth == 1, rng.random(truth.shape) < false_neg, rng.random(truth.shape) < false_pos)
    return np.where(flip, 1.0 - truth, truth)


def _coverage(y_sample, f_sample, f_rest, truth, w_l=None, w_u=None) -> tuple[float, np.ndarray]:
    lows, highs, estimates = [], [], []
    for start in range(0, y_sample.shape[1], CHUNK):
        part = slice(start, start + CHUNK)
        result = ppi_mean(
            y_sample[:, part], f_sample[:, part], f_rest[:, part], w_labelled=w_l, w_unlabelled=w_u
        )
        lows.append(result.low)
        highs.append(result.high)
        estimates.append(result.estimate)
    low, high = np.concatenate(lows), np.concatenate(highs)
    return float(((low <= truth) & (truth <= high)).mean()), np.concatenate(estimates)


def test_nominal_95_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    """218 units, accuracy 0.6 under the protocol's judge; the cheap judge reads 10 % of right answers
    as wrong and 30 % of wrong ones as right (its expected score 0.66, not 0.6); 60 units sampled."""
    rng = np.random.default_rng(20240)
    total, n, p = 218, 60, 0.6
    truth_rows = (rng.random((total, SEEDS)) < p).astype(float)
    cheap = _biased_judge(truth_rows, rng, false_pos=0.3, false_neg=0.1)
    order = np.argsort(rng.random((total, SEEDS)), axis=0)  # a random sample per simulated benchmark
    y, f = np.take_along_axis(truth_rows, order, 0), np.take_along_axis(cheap, order, 0)
    coverage, estimates = _coverage(y[:n], f[:n], f[n:], p)
    assert 0.925 <= coverage <= 0.965
    assert abs(estimates.mean() - p) < 0.005  # unbiased, where the cheap judge alone is 0.06 off
    # the cheap judge's own interval, on all 218 units, misses the protocol judge's score
    se = cheap.std(axis=0) / np.sqrt(total)
    naive = ((cheap.mean(0) - 1.96 * se <= p) & (p <= cheap.mean(0) + 1.96 * se)).mean()
    assert naive < 0.7


def test_stratified_sample_with_weights_keeps_coverage() -> None:
    """Two categories (150 and 68 units) with different accuracies and a judge biased differently in
    each; 60 units allocated 41 / 19 (weights slightly off 1 from rounding)."""
    rng = np.random.default_rng(7)
    sizes, accuracy = {"a": 150, "b": 68}, {"a": 0.8, "b": 0.3}
    counts = allocate(sizes, 60)
    assert counts == {"a": 41, "b": 19}
    strata = {f"{s}{i}": s for s, size in sizes.items() for i in range(size)}
    sampled = [f"{s}{i}" for s, k in counts.items() for i in range(k)]
    w_l, w_u = stratum_weights(strata, sampled)
    truth = sum(sizes[s] * accuracy[s] for s in sizes) / sum(sizes.values())
    ys, fs, fr = [], [], []
    for s, size in sizes.items():
        rows = (rng.random((size, SEEDS)) < accuracy[s]).astype(float)
        bias = {"a": (0.4, 0.05), "b": (0.1, 0.3)}[s]
        cheap = _biased_judge(rows, rng, false_pos=bias[0], false_neg=bias[1])
        order = np.argsort(rng.random((size, SEEDS)), axis=0)
        rows, cheap = np.take_along_axis(rows, order, 0), np.take_along_axis(cheap, order, 0)
        ys.append(rows[: counts[s]])
        fs.append(cheap[: counts[s]])
        fr.append(cheap[counts[s] :])
    weights_l = np.array([w_l[u] for u in sampled])
    weights_u = np.array([w_u[u] for u in strata if u not in set(sampled)])
    coverage, estimates = _coverage(np.vstack(ys), np.vstack(fs), np.vstack(fr), truth, weights_l, weights_u)
    assert 0.925 <= coverage <= 0.965
    assert abs(estimates.mean() - truth) < 0.005


def test_allocation_by_hand() -> None:
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    # proportional would give c nothing (0.1 of a unit): every category keeps at least one unit
    assert allocate({"a": 97, "b": 2, "c": 1}, 10) == {"a": 8, "b": 1, "c": 1}
    assert allocate({"a": 3, "b": 1}, 100) == {"a": 3, "b": 1}  # never more than a category has


def test_sample_is_seeded_stratified_and_whole_units() -> None:
    strata = {f"u{i}": ("x" if i < 30 else "y") for i in range(40)}
    first = sample_units(strata, 8, seed=3)
    assert first == sample_units(strata, 8, seed=3) and first != sample_units(strata, 8, seed=4)
    assert sum(strata[u] == "x" for u in first) == 6 and sum(strata[u] == "y" for u in first) == 2
    assert len(set(first)) == 8
    # growing the sample keeps it: only the added units are new judge requests
    assert set(first) <= set(sample_units(strata, 16, seed=3))


def test_weights_restore_each_categorys_share() -> None:
    strata = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "b2": "b", "b3": "b"}
    assert stratum_weights(strata, ["a1", "b1"]) is None  # exactly proportional: no weights
    # a sampled 2 of 3, b 1 of 3: sample weights (1/2)/(2/3) = 0.75 and (1/2)/(1/3) = 1.5
    w_l, w_u = stratum_weights(strata, ["a1", "a2", "b1"])
    assert w_l == {"a1": 0.75, "a2": 0.75, "b1": 1.5}
    assert w_u == {"a3": 1.5, "b2": 0.75, "b3": 0.75}


def test_too_small_a_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ppi_mean(np.array([1.0]), np.array([1.0]), np.array([0.0, 1.0]))
