"""OCRBench: substring hits per category, final score out of 1000."""

import json

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.errors import DataCorruptError
from vleval.protocol import get_protocol

CARD, NEW = get_benchmark("OCRBench"), get_protocol("2026.08")
HMER = "Handwritten Mathematical Expression Recognition"


def frame(rows):
    return pd.DataFrame(
        [{"index": i, "answer": a, "prediction": p, "category": c} for i, (a, p, c) in enumerate(rows)]
    )


def test_counts_and_final_score(tmp_path):
    data = frame(
        [
            ("['STOP']", "The sign says stop.", "Regular Text Recognition"),  # case-insensitive
            ("['1,000', '1000']", "It costs 1000 dollars", "Digit String Recognition"),  # any gold answer
            ("['New York']", "newyork", "Scene Text-centric VQA"),  # inner spaces matter here
            ("['x^2 + 1']", "$x^{2}+1$", HMER),  # spaces removed, case and braces kept
            ("['x^2 + 1']", "x^2+1", HMER),
            ("['Total']", "nan", "Doc-oriented VQA"),
        ]
    )
    result = score_frame(data, CARD, NEW, None, stem=tmp_path / "M_OCRBench")
    saved = json.loads((tmp_path / "M_OCRBench_score.json").read_text())
    assert saved == {
        "Text Recognition": 2,
        "Scene Text-centric VQA": 0,
        "Doc-oriented VQA": 0,
        "Key Information Extraction": 0,
        HMER: 1,
        "Final Score": 3,
        "Final Score Norm": 0.3,
    }
    assert result.record.native == {"Final Score": 3.0} and result.record.headline == 0.3
    assert [r.score for r in result.rows] == [1, 1, 0, 0, 1, 0]
    assert "1000" in result.record.notes[0]


def test_bad_answer_cell_names_the_row(tmp_path):
    with pytest.raises(DataCorruptError, match="row 0"):
        score_frame(
            frame([("STOP", "stop", "Regular Text Recognition")]), CARD, NEW, None, stem=tmp_path / "M"
        )
    with pytest.raises(DataCorruptError, match="unknown category"):
        score_frame(frame([("['a']", "a", "Poetry")]), CARD, NEW, None, stem=tmp_path / "M")
