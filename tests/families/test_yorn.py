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


# --------------------------------------------------------------------------------------------------
# MME and POPE (hand-computed; the reference's own evaluate on edge cases: test_reference_scoring.py)
# --------------------------------------------------------------------------------------------------
def mme_rows():
    def row(index, category, image, answer, prediction):
        return {"index": index, "question": "Is it?", "answer": answer, "prediction": prediction,
                "category": category, "image_path": f"{category}/{image}.jpg"}  # fmt: skip

    return pd.DataFrame(
        [
            row(0, "color", 0, "Yes", "Yes"),  # image 0: both right -> acc+ counts it
            row(1, "color", 0, "No", "No"),
            row(2, "color", 1, "Yes", "Yes, it is."),  # image 1: one right, one wrong
            row(3, "color", 1, "No", "Yes"),
            row(4, "code_reasoning", 2, "Yes", "No"),  # both wrong
            row(5, "code_reasoning", 2, "No", "Yes"),
        ]
    )


def test_mme_sums_acc_and_acc_plus_per_category_and_says_which_categories_are_missing(tmp_path):
    card = get_benchmark("MME")
    result = score_frame(mme_rows(), card, OLD, None, stem=tmp_path / "M_MME")
    table = pd.read_csv(tmp_path / "M_MME_score.csv")
    assert list(table.columns) == ["perception", "reasoning", "color", "code_reasoning"]
    # color: acc 3/4 = 75, acc+ 1/2 = 50 -> 125; code_reasoning: 0 + 0
    assert table.iloc[0].tolist() == [125.0, 0.0, 125.0, 0.0]
    assert result.record.native == {"perception": 125.0, "reasoning": 0.0}
    assert result.record.headline == pytest.approx(125 / 28)  # of MME's 2800 points, on 0-100
    assert result.record.categories == {"color": 62.5, "code_reasoning": 0.0}  # (acc + acc+) / 2
    assert any("MME categories without rows" in note and "OCR" in note for note in result.record.notes)
    assert yorn.FAMILY.aggregate(result.rows)["headline"] == pytest.approx(result.record.headline)


def test_mme_limit_keeps_an_images_two_questions_together():
    keys = yorn.FAMILY.question_keys(mme_rows(), get_benchmark("MME"), OLD)
    assert (
        keys
        == ["color/color/0.jpg"] * 2 + ["color/color/1.jpg"] * 2 + ["code_reasoning/code_reasoning/2.jpg"] * 2
    )


def pope_rows():
    def row(index, category, answer, prediction):
        return {"index": index, "question": "Is there a dog?", "answer": answer, "prediction": prediction,
                "category": category}  # fmt: skip

    return pd.DataFrame(
        [
            row(0, "adversarial,popular", "Yes", "Yes, there is a dog."),  # tp, counted in both splits
            row(1, "adversarial", "No", "Yes"),  # fp
            row(2, "popular", "Yes", "I cannot tell."),  # Unknown: a negative -> fn
            row(3, "random", "No", "no"),  # tn
        ]
    )


def test_pope_counts_a_multi_split_row_once_per_split_and_unknown_as_no(tmp_path):
    result = score_frame(pope_rows(), get_benchmark("POPE"), OLD, None, stem=tmp_path / "M_POPE")
    table = pd.read_csv(tmp_path / "M_POPE_score.csv")
    assert list(table.columns) == ["split", "Overall", "acc", "precision", "recall"]
    assert list(table["split"]) == ["Overall", "adversarial", "popular", "random"]
    # Overall over 5 counted rows (row 0 twice): tp 2, fp 1, fn 1 -> precision = recall = F1 = 2/3
    overall = table.iloc[0]
    assert overall["precision"] == pytest.approx(200 / 3) and overall["recall"] == pytest.approx(200 / 3)
    assert overall["Overall"] == pytest.approx(200 / 3) and overall["acc"] == pytest.approx(60.0)
    assert table.iloc[3].tolist()[1:] == [0.0, 100.0, 0.0, 0.0]  # random: no positive at all
    assert result.record.headline == pytest.approx(200 / 3)
    assert result.record.categories["adversarial"] == pytest.approx(table.iloc[1]["Overall"])
    assert yorn.FAMILY.aggregate(result.rows)["headline"] == pytest.approx(result.record.headline)
    aux = pd.read_excel(tmp_path / "M_POPE_auxmatch.xlsx")
    assert list(aux["extracted"]) == ["Yes", "Yes", "Unknown", "No"]
