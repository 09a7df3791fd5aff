"""Intervals on the per-category sub-scores (``ScoreRecord.categories``): a category's units as they
fall in each of the headline's resamples, checked against a bootstrap written out here with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vleval.families.base import family_of
from vleval.protocol import get_protocol
from vleval.stats.core import bootstrap_intervals
from vleval.stats.scores import HEADLINE, category_key, score_uncertainty
from vleval.types import RowResult

MMBENCH = family_of("MMBench_DEV_EN_V11")  # circular: a question's 4 rotations are one unit
PROTOCOL = get_protocol("2024.12")
ROTATIONS = 4
RESAMPLES = 2000
SEED = 7
WRONG_UNITS = {1, 4, 5, 9}  # questions of category 'mixed' with one wrong rotation


def circular_rows() -> list[RowResult]:
    """Questions 0..23 alternate between category 'right' (every rotation right) and 'mixed' (12
    questions, WRONG_UNITS among them have their third rotation wrong), rotations in table order."""
    rows = []
    for question in range(24):
        category = "right" if question % 2 else "mixed"
        for k in range(ROTATIONS):
            wrong = category == "mixed" and question // 2 in WRONG_UNITS and k == 2
            rows.append(
                RowResult(
                    index=question + 1_000_000 * k,
                    unit=str(question),
                    score=0.0 if wrong else 1.0,
                    decided_by="rule",
                    groups={"split": "dev"},
                    category=category,
                )
            )
    return rows


def value(rows):
    return MMBENCH.category_value(rows, PROTOCOL)


def numpy_bootstrap(
    outcomes: list[float], inside: list[bool], resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap of a category's share of right units, written out: draw all units with
    replacement, keep the share of right units among the drawn ones inside the category."""
    draws = np.random.default_rng(seed).integers(0, len(outcomes), size=(resamples, len(outcomes)))
    mask = np.asarray(inside, dtype=float)
    shares = (np.asarray(outcomes) * mask)[draws].sum(axis=1) / mask[draws].sum(axis=1) * 100
    low, high = np.quantile(shares, [0.025, 0.975])
    return float(low), float(high)


def uncertainty(rows, categories=None):
    return score_uncertainty(
        rows, MMBENCH.aggregate, HEADLINE, seed=SEED, resamples=RESAMPLES, sums=MMBENCH.row_sums(rows),
        categories=categories, category_sums=MMBENCH.category_sums(rows, PROTOCOL),
    )  # fmt: skip


def test_each_category_is_its_units_within_the_headline_resamples():
    """The bootstrap of a category (what it gets where its value does not count right units): the
    headline's resamples, the category's units within each."""
    rows = circular_rows()
    by_category = MMBENCH.category_rows(rows)
    assert {name: len(members) for name, members in by_category.items()} == {"mixed": 48, "right": 48}
    sums = {category_key("mixed"): MMBENCH.category_sums(rows, PROTOCOL)["mixed"]}
    found = bootstrap_intervals(
        rows, MMBENCH.aggregate, {category_key("mixed"): ("unit",)}, resamples=RESAMPLES, seed=SEED, sums=sums
    )
    mixed = found[category_key("mixed")]
    # the 24 questions in table order: even ones are 'mixed', WRONG_UNITS among those wrong
    outcomes = [0.0 if q % 2 == 0 and q // 2 in WRONG_UNITS else 1.0 for q in range(24)]
    inside = [q % 2 == 0 for q in range(24)]
    assert (mixed.low, mixed.high) == pytest.approx(
        numpy_bootstrap(outcomes, inside, RESAMPLES, SEED), abs=1e-9
    )
    assert mixed.method == f"percentile bootstrap over 24 scoring units, {RESAMPLES} resamples, seed {SEED}"
    assert mixed.level == 0.95


def test_a_category_of_right_wrong_questions_gets_the_exact_interval_of_its_questions():
    """MMBench's questions are independent right/wrong units: a category's accuracy gets the
    Clopper-Pearson interval of its right questions among its questions (scipy), never the zero-width
    '100.00 ± 0.00' a percentile bootstrap gives a category that is all right."""
    rows = circular_rows()
    found = uncertainty(rows, {"mixed": 100 * 8 / 12, "right": 100.0}).intervals
    for name, right in (("mixed", 8), ("right", 12)):
        ci = stats.binomtest(right, 12).proportion_ci(confidence_level=0.95, method="exact")
        interval = found[category_key(name)]
        assert (interval.low, interval.high) == pytest.approx((100 * ci.low, 100 * ci.high), abs=1e-9)
        assert interval.method == (
            f"exact binomial (Clopper-Pearson), {right} of 12 scoring units right, category {name!r}"
        )
    assert found[category_key("right")].low == pytest.approx(100 * 0.025 ** (1 / 12))  # not 100.00
    assert found[category_key("right")].high == 100.0


def test_existing_intervals_do_not_move():
    rows = circular_rows()
    without = uncertainty(rows).intervals
    with_categories = uncertainty(rows, {"mixed": 100 * 8 / 12, "right": 100.0}).intervals
    assert set(without) == {HEADLINE}
    assert {k: v for k, v in with_categories.items() if k in without} == without


def test_a_circular_group_counts_once_whatever_its_rotations():
    """The category's sums hold one (right, counted) pair per question, on one of its rows: a
    question whose third rotation is wrong counts as one wrong unit, never as 3/4 right."""
    rows = circular_rows()
    mixed = MMBENCH.category_sums(rows, PROTOCOL)["mixed"]
    assert mixed.columns.sum(axis=0).tolist() == [8.0, 12.0]
    assert np.count_nonzero(mixed.columns[:, 1]) == 12


def test_a_value_its_rows_do_not_give_gets_no_interval():
    rows = circular_rows()
    reported = {"mixed": 50.0, "right": 100.0, "absent": 80.0}  # 'mixed' is 66.67 from its rows
    found = uncertainty(rows, reported).intervals
    assert category_key("right") in found
    assert category_key("mixed") not in found and category_key("absent") not in found


def test_mmvet_counts_a_single_capability_row_twice_where_the_reference_does():
    mmvet = family_of("MMVet")
    rows = [
        RowResult(index=0, unit="0", score=1.0, decided_by="judge", category="ocr"),
        RowResult(index=1, unit="1", score=0.0, decided_by="judge", category="rec,ocr"),
    ]
    by_capability = mmvet.category_rows(rows)
    assert [r.index for r in by_capability["ocr"]] == [0, 1] and [r.index for r in by_capability["rec"]] == [
        1
    ]
    assert mmvet.category_value(by_capability["ocr"], get_protocol("2024.12")) == pytest.approx(200 / 3)
    assert mmvet.category_value(by_capability["ocr"], get_protocol("vleval-1")) == pytest.approx(50.0)
