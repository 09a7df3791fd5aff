"""MM-Vet: judge grading with retries, per-capability accuracy, missing capability."""

import pandas as pd
import pytest

from vleval.datasets import mmvet
from vleval.datasets.registry import get_benchmark
from vleval.errors import VlevalError
from vleval.protocol import Quirk, get_protocol

OLD, NEW = get_protocol("2024.12"), get_protocol("2026.08")
CARD = get_benchmark("MMVet")
GRADES = {"p1": ["1.0"], "p2": ["0.5"], "p3": ["good", "1.7", "0.3"], "p4": ["xx"] * 5}


class FakeJudge:
    model, short_name = "gpt-4-1106-preview", "gpt-4-turbo"

    def __init__(self):
        self.batches = []

    def ask_many(self, requests):
        self.batches.append(list(requests))
        attempt = len(self.batches) - 1
        return [GRADES[r.prompt.split(" | ")[-2]][attempt] for r in requests]


def rows():
    return pd.DataFrame(
        [
            {"index": i, "question": f"Q{i}", "answer": a, "prediction": f"p{i}", "category": c}
            for i, a, c in [
                (1, "a<AND>b", "rec,ocr"),
                (2, "x", "ocr"),
                (3, "y<OR>z", "know,gen"),
                (4, "7", "math"),
            ]
        ]
    )


def test_grades_and_capability_tables(tmp_path):
    judge = FakeJudge()
    result = mmvet.score(rows(), CARD, NEW, judge, stem=tmp_path / "M_MMVet")
    table = pd.read_csv(tmp_path / "M_MMVet_gpt-4-turbo_score.csv")
    assert list(table["Category"]) == ["rec", "ocr", "know", "gen", "spat", "math", "Overall"]
    # 'ocr' and 'math' rows are single-capability categories: counted twice (one shared counter)
    assert list(table["tot"]) == [1, 3, 1, 1, 0, 2, 4]
    acc = table["acc"].tolist()
    assert (
        acc[:4] == [100.0, pytest.approx(200 / 3), 30.0, 30.0] and pd.isna(acc[4]) and acc[5:] == [0.0, 45.0]
    )
    fine = pd.read_csv(tmp_path / "M_MMVet_gpt-4-turbo_score_fine.csv")
    assert list(fine["Category"]) == ["rec_ocr", "ocr", "know_gen", "math", "Overall"]
    assert list(fine["tot"]) == [1, 3, 1, 2, 4]
    assert result.headline == 45.0
    assert "spat" in result.notes[0] and "ZeroDivisionError" in result.notes[0]
    assert [b[0].temperature for b in judge.batches] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [len(b) for b in judge.batches] == [4, 2, 2, 1, 1]
    assert judge.batches[0][0].max_tokens == 2048
    assert judge.batches[0][0].prompt.endswith("\nQ1 | a <AND> b | p1 | ")
    logs = result.rows["log"].tolist()
    assert (
        logs[2]
        == "Try 0: output is good, failed to parse.\nTry 1: output is 1.7, invalid score: 1.7.\nSucceed"
    )
    assert logs[3].endswith("All 5 retries failed.\n") and result.rows["score"].iloc[3] == 0.0


def test_without_the_quirk_each_row_counts_once(tmp_path):
    import dataclasses

    protocol = dataclasses.replace(NEW, quirks=NEW.quirks - {Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE})
    mmvet.score(rows(), CARD, protocol, FakeJudge(), stem=tmp_path / "M")
    table = pd.read_csv(tmp_path / "M_gpt-4-turbo_score.csv")
    assert list(table["tot"]) == [1, 2, 1, 1, 0, 1, 4]
    fine = pd.read_csv(tmp_path / "M_gpt-4-turbo_score_fine.csv")
    assert fine["acc"].tolist() == [100.0, 50.0, 30.0, 0.0, 45.0]


def test_2024_judge_requests_carry_max_tokens_3(tmp_path):
    judge = FakeJudge()
    mmvet.score(rows(), CARD, OLD, judge, stem=tmp_path / "M")
    assert judge.batches[0][0].max_tokens == 3


def test_requires_a_judge(tmp_path):
    with pytest.raises(VlevalError, match="judge"):
        mmvet.score(rows(), CARD, NEW, None, stem=tmp_path / "M")
