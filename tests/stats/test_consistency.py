"""MMBench's rotation consistency: of the questions right in at least one examined rotation, the share
right in all, with its exact interval; worked out by hand on three questions."""

from __future__ import annotations

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.results import read_score, score_record_path
from vleval.datasets.scoring import score_frame
from vleval.protocol import get_protocol
from vleval.stats.consistency import rotation_consistency
from vleval.stats.core import clopper_pearson
from vleval.synthetic.scripted_judge import ScriptedJudge
from vleval.types import RowResult

NEW = get_protocol("2026.08")


def _rows() -> pd.DataFrame:
    def row(index, answer, prediction):
        return {
            "index": index, "question": "q", "A": "dog", "B": "cat", "C": "fish", "answer": answer,
            "prediction": prediction, "category": "coarse_perception", "l2-category": "perception", "split": "dev",
        }  # fmt: skip

    return pd.DataFrame(
        [
            row(1, "A", "A"), row(1_000_001, "B", "B"), row(2_000_001, "C", "(C)"),  # right in all three
            row(2, "A", "A"), row(1_000_002, "B", "C"),  # right, then a wrong letter
            row(3, "A", "A"), row(1_000_003, "B", "the second one"),  # right, then up to the judge
            row(4, "B", "C"), row(1_000_004, "A", "A"),  # wrong first: the rest is never examined
        ]
    )  # fmt: skip


@pytest.mark.parametrize(("judge_says", "consistent"), [("B", 2), ("C", 1)])
def test_consistency_by_hand(tmp_path, judge_says, consistent):
    """Questions 1-3 are right in their first rotation; question 4 is wrong in its first, so its
    second is never examined and it is not counted. Question 3's second rotation is the judge's."""
    card = get_benchmark("MMBench_DEV_EN_V11")
    result = score_frame(_rows(), card, NEW, ScriptedJudge(judge_says), stem=tmp_path / "M")
    found = result.record.rotation_consistency
    assert (found.consistent, found.right_somewhere, found.questions) == (consistent, 3, 4)
    assert found.value == pytest.approx(100 * consistent / 3)
    exact = clopper_pearson(consistent, 3)
    assert (found.interval.low, found.interval.high) == pytest.approx((exact.low, exact.high))
    # the headline is untouched: questions right in every rotation over all four
    assert result.record.headline == pytest.approx(100 * consistent / 4)
    assert f"{consistent} of the 3 questions right in some rotation are right in all" in found.text()
    # the score record keeps it
    again = read_score(score_record_path(tmp_path / "M"))
    assert again.rotation_consistency == found


def test_no_rotations_no_figure():
    rows = [RowResult(i, str(i), 1.0, "rule") for i in range(3)]
    assert rotation_consistency(rows) is None


def test_vanilla_benchmarks_get_no_figure(tmp_path):
    rows = _rows().assign(index=range(9))
    result = score_frame(rows, get_benchmark("MMStar"), NEW, ScriptedJudge("B"), stem=tmp_path / "S")
    assert result.record.rotation_consistency is None
