"""CRPE: per row (2024.12) or per block of 4 rotations (2026.08); the one-letter gold quirk."""

import json

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.errors import DataCorruptError
from vleval.families import crpe
from vleval.protocol import get_protocol

OLD, NEW = get_protocol("2024.12"), get_protocol("2026.08")
CARD = get_benchmark("CRPE_RELATION")


def test_is_correct_rules():
    # letter answers are compared with the gold answer's first character
    assert crpe.is_correct("B. a dog", "B", NEW)
    assert crpe.is_correct("B. a dog", "B. a cat", NEW)
    assert not crpe.is_correct("B. a dog", "A dog", NEW)  # starts with 'A': compared as a letter
    assert not crpe.is_correct("(B) a dog", "B", NEW)  # '(' is the first character of this gold
    assert crpe.is_correct("(B) a dog", "I see a DOG here", NEW)
    assert not crpe.is_correct("(B) a dog", "a cat", NEW)
    # one-letter gold: gold[4:] is empty, so any prediction not starting with A-D counts as correct
    assert crpe.is_correct("B", "the cat", NEW)
    assert crpe.is_correct("B", "nan", OLD)


def rows():
    def row(i, category, answer, prediction):
        return {"index": i, "category": category, "answer": answer.replace("(", "").replace(")", "."),
                "prediction": prediction}  # fmt: skip

    return pd.DataFrame(
        [
            row(1, "subject", "(A) man", "A"),
            row(2, "subject", "(B) man", "B"),
            row(3, "subject", "(C) man", "C"),
            row(4, "subject", "(D) man", "D"),
            row(5, "object", "(A) cup", "A"),
            row(6, "object", "(B) cup", "C"),  # wrong
            row(7, "object", "(C) cup", "C"),
            row(8, "object", "(D) cup", "D"),
        ]
    )


def test_2024_scores_each_row(tmp_path):
    result = score_frame(rows(), CARD, OLD, None, stem=tmp_path / "M_CRPE_RELATION")
    saved = json.loads((tmp_path / "M_CRPE_RELATION_score.json").read_text())
    assert saved == {"exist": None, "subject": 1.0, "predicate": None, "object": 0.75, "total": 0.875}
    assert result.record.headline == 87.5


def test_2026_needs_all_four_rotations(tmp_path):
    result = score_frame(rows(), CARD, NEW, None, stem=tmp_path / "M")
    assert json.loads((tmp_path / "M_score.json").read_text()) == {
        "exist": None, "subject": 1.0, "predicate": None, "object": 0.0, "total": 0.5,
    }  # fmt: skip
    assert [r.unit for r in result.rows] == ["0", "0", "0", "0", "1", "1", "1", "1"]  # blocks of 4
    assert result.record.headline == 50.0


def test_2026_rejects_a_partial_block(tmp_path):
    with pytest.raises(DataCorruptError, match="multiple of 4"):
        score_frame(rows().iloc[:6], CARD, NEW, None, stem=tmp_path / "M")
