"""HallusionBench: yes/no extraction, judge fallback, aAcc/fAcc/qAcc (hand-computed)."""

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.families import yorn
from vleval.protocol import get_protocol
from vleval.synthetic.scripted_judge import ScriptedJudge

OLD, NEW = get_protocol("2024.12"), get_protocol("2026.08")
CARD = get_benchmark("HallusionBench")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.", "Yes"),
        ("NO!", "No"),
        ('"Yes", it is', "Yes"),
        ("no-one is there", "No"),
        ("Not sure", "Unknown"),
        ("yes and no", "Unknown"),
        ("yes/no", "Unknown"),
        ("nan", "Unknown"),
        ("是的", "Unknown"),
    ],
)
def test_extraction(text, expected):
    assert yorn.yorn_extraction(text, NEW) == expected
    assert yorn.yorn_extraction(text, OLD) == expected


def rows(last="maybe"):
    def row(set_id, fig, q, cat, answer, prediction):
        return {"index": f"VD_x_y_{set_id}_{fig}_{q}", "question": "Is it red", "answer": answer,
                "prediction": prediction, "category": cat, "l2-category": "L"}  # fmt: skip

    return pd.DataFrame(
        [
            row(0, 0, 0, "VD", "Yes", "Yes, it is."),
            row(0, 0, 1, "VD", "No", "No."),
            row(0, 1, 0, "VS", "No", "yes"),
            row(0, 1, 1, "VS", "Yes", last),
        ]
    )


def test_rating_without_judge(tmp_path):
    result = score_frame(rows(), CARD, OLD, None, stem=tmp_path / "M_HallusionBench")
    table = pd.read_csv(tmp_path / "M_HallusionBench_score.csv")
    assert list(table.columns) == ["split", "aAcc", "fAcc", "qAcc"]
    assert list(table["split"]) == ["Overall", "VD", "VS", "L"]
    assert table.iloc[0, 1:].tolist() == [50.0, 50.0, 0.0]
    assert table.iloc[1, 1:].tolist() == [100.0, 100.0, 100.0]
    assert table.iloc[2, 1:].tolist() == [0.0, 0.0, 0.0]
    assert result.record.counts.fallback == 1  # neither yes nor no, and no judge
    assert result.record.headline == pytest.approx(100 / 3)
    aux = pd.read_excel(tmp_path / "M_HallusionBench_auxmatch.xlsx")
    assert list(aux["extracted"]) == ["Yes", "No", "Yes", "Unknown"]


def test_judge_retries_at_rising_temperature(tmp_path):
    judge = ScriptedJudge(["I cannot tell", "Yes"])
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M")
    assert [b[0].temperature for b in judge.batches] == [0.0, 0.5]
    assert judge.batches[0][0].prompt.endswith("Question: Is it red?\nAnswer: maybe\nYour output: ")
    assert result.record.metrics == {"aAcc": 75.0, "fAcc": 50.0, "qAcc": 50.0}


def test_judge_gives_up_after_five_calls(tmp_path):
    judge = ScriptedJudge(["unclear"] * 5)
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M")
    assert [b[0].temperature for b in judge.batches] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert result.rows[3].extracted == "Unknown" and result.rows[3].decided_by == "fallback"
    assert result.record.complete  # the judge answered, unreadably: the protocol's fallback


def test_failed_judge_calls_make_the_result_incomplete(tmp_path):
    judge = ScriptedJudge("Failed to obtain answer via API. ")
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M")
    assert len(judge.batches) == 5 and result.rows[3].decided_by == "failed"
    assert result.record.counts.failed == 1 and not result.record.complete
