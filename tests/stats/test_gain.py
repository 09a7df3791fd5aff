"""MMStar's multi-modal gain MG = S_v - S_wv and leakage ML = max(0, S_wv - S_t) (Chen et al. 2024),
against hand-computed cases, with paired intervals over the units answered every way."""

from __future__ import annotations

import pytest

from vleval.stats.compare import share_of_right_units
from vleval.stats.gain import multimodal_gain
from vleval.types import RowResult


def _rows(scores: list[int]) -> list[RowResult]:
    return [RowResult(i, str(i), float(s), "rule") for i, s in enumerate(scores)]


def test_gain_and_no_leakage_by_hand():
    # 8 questions: with images 6 right, without 2, the LLM base 4 -> MG 50, S_wv - S_t = -25, ML 0
    v = _rows([1, 1, 1, 1, 1, 1, 0, 0])
    wv = _rows([1, 0, 0, 0, 1, 0, 0, 0])
    t = _rows([1, 1, 0, 0, 1, 1, 0, 0])
    found = multimodal_gain(v, wv, t, share_of_right_units, llm_base_name="Qwen2.5-7B-Instruct")
    assert (found.with_images, found.without_images, found.llm_base) == pytest.approx((75.0, 25.0, 50.0))
    assert found.gain == pytest.approx(50.0) and found.units == 8
    assert found.without_minus_base == pytest.approx(-25.0) and found.leakage == 0.0
    assert found.gain_interval.low <= 50.0 <= found.gain_interval.high
    assert found.leakage_interval.low == 0.0 and found.leakage_interval.high >= 0.0  # floored as ML is
    # exact McNemar: 4 units right only with images, none only without
    assert "(0 right only without images, 4 right only with images)" in found.gain_test
    assert "(2 right only by the LLM base, 0 right only without images)" in found.leakage_test
    assert found.gain_p_value == pytest.approx(0.125)
    text = found.text()
    assert text.startswith("multi-modal gain MG 50.00 [") and "multi-modal leakage ML 0.00 [0.00," in text
    assert "LLM base Qwen2.5-7B-Instruct 50.00" in text


def test_leakage_by_hand_and_only_common_units():
    # without images 3 of 4 right, the LLM base 1 of 4: ML = 75 - 25 = 50; row 9 only in one pass
    v = _rows([1, 1, 1, 1]) + [RowResult(9, "9", 1.0, "rule")]
    wv = _rows([1, 1, 1, 0])
    t = _rows([1, 0, 0, 0])
    found = multimodal_gain(v, wv, t, share_of_right_units)
    assert found.units == 4 and found.with_images == pytest.approx(100.0)
    assert found.gain == pytest.approx(25.0) and found.leakage == pytest.approx(50.0)
    assert 0.0 <= found.leakage_interval.low <= 50.0 <= found.leakage_interval.high


def test_without_llm_base_only_the_gain():
    found = multimodal_gain(_rows([1, 0]), _rows([0, 0]), None, share_of_right_units)
    assert found.gain == pytest.approx(50.0) and found.leakage is None and found.llm_base is None
    assert "needs --llm-base" in found.text()
