"""MM-Vet: judge grading with retries, per-capability accuracy, missing capability."""

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.errors import VlevalError
from vleval.protocol import Quirk, get_protocol
from vleval.synthetic.scripted_judge import ScriptedJudge

OLD, NEW = get_protocol("2024.12"), get_protocol("2026.08")
CARD = get_benchmark("MMVet")
GRADES = {"p1": ["1.0"], "p2": ["0.5"], "p3": ["good", "1.7", "0.3"], "p4": ["xx"] * 5}


def FakeJudge():
    return ScriptedJudge(
        lambda request, attempt: GRADES[request.prompt.split(" | ")[-2]][attempt],
        short_name="gpt-4-turbo",
        model="gpt-4-1106-preview",
    )


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
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M_MMVet")
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
    assert result.record.headline == 45.0
    assert "spat" in result.record.notes[0] and "ZeroDivisionError" in result.record.notes[0]
    assert [b[0].temperature for b in judge.batches] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [len(b) for b in judge.batches] == [4, 2, 2, 1, 1]
    assert judge.batches[0][0].max_tokens == 2048
    assert judge.batches[0][0].prompt.endswith("\nQ1 | a <AND> b | p1 | ")
    logs = pd.read_excel(tmp_path / "M_MMVet_gpt-4-turbo.xlsx")["log"].tolist()
    assert (
        logs[2]
        == "Try 0: output is good, failed to parse.\nTry 1: output is 1.7, invalid score: 1.7.\nSucceed"
    )
    assert logs[3].endswith("All 5 retries failed.\n") and result.rows[3].score == 0.0
    assert [r.judge_log[0] for r in result.rows] == logs
    assert [r.decided_by for r in result.rows] == ["judge", "judge", "judge", "fallback"]


def test_without_the_quirk_each_row_counts_once(tmp_path):
    import dataclasses

    protocol = dataclasses.replace(NEW, quirks=NEW.quirks - {Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE})
    score_frame(rows(), CARD, protocol, FakeJudge(), stem=tmp_path / "M")
    table = pd.read_csv(tmp_path / "M_gpt-4-turbo_score.csv")
    assert list(table["tot"]) == [1, 2, 1, 1, 0, 1, 4]
    fine = pd.read_csv(tmp_path / "M_gpt-4-turbo_score_fine.csv")
    assert fine["acc"].tolist() == [100.0, 50.0, 30.0, 0.0, 45.0]


def test_2024_judge_requests_carry_max_tokens_3(tmp_path):
    judge = FakeJudge()
    score_frame(rows(), CARD, OLD, judge, stem=tmp_path / "M")
    assert judge.batches[0][0].max_tokens == 3


def test_requires_a_judge(tmp_path):
    with pytest.raises(VlevalError, match="judge"):
        score_frame(rows(), CARD, NEW, None, stem=tmp_path / "M")
