"""MCQ scoring (MMStar/AI2D vanilla, MMBench circular, MMMU) against hand-computed expectations."""

import numpy as np
import pandas as pd
import pytest

from vleval.datasets import mcq
from vleval.datasets.registry import get_benchmark
from vleval.protocol import get_protocol

OLD, NEW = get_protocol("2024.12"), get_protocol("2026.08")
NAN = float("nan")


class FakeJudge:
    def __init__(self, answer, short_name="gpt-4o-mini"):
        self.answer = answer
        self.model = "fake-" + short_name
        self.short_name = short_name
        self.batches = []

    def ask_many(self, requests):
        self.batches.append(list(requests))
        return [self.answer(r) for r in requests]


def mmstar_rows(last_prediction="hmm"):
    opts = {"A": "dog", "B": "cat", "C": "fish", "D": "bird"}
    rows = [
        (1, "q1", "B", "B", "x", "L1"),
        (2, "q2", "A", "The answer is (A)", "x", "L2"),
        (3, "q3", "C", "I think it is a dog", "y", "L1"),
        (4, "q4", "D", last_prediction, "y", "L2"),
    ]
    return pd.DataFrame(
        [
            {
                "index": i,
                "question": q,
                **opts,
                "answer": a,
                "prediction": p,
                "category": c,
                "l2-category": l2,
            }
            for i, q, a, p, c, l2 in rows
        ]
    )


def test_vanilla_accuracy_table_without_judge(tmp_path):
    result = mcq.score(mmstar_rows(), get_benchmark("MMStar"), OLD, None, stem=tmp_path / "M_MMStar", seed=0)
    acc = pd.read_csv(tmp_path / "M_MMStar_acc.csv")
    assert list(acc.columns) == ["split", "Overall", "L1", "L2", "x", "y"]
    assert acc.iloc[0].tolist() == ["none", 0.5, 0.5, 0.5, 1.0, 0.0]
    assert result.headline == 0.5
    assert (tmp_path / "M_MMStar_exact_matching_result.xlsx").exists()
    assert list(result.rows["extracted"]) == ["B", "A", "A", "Z"]
    assert result.metrics["rows_without_judge"] == 1
    assert "1 row(s)" in result.notes[0]
    record = pd.read_excel(tmp_path / "M_MMStar_exact_matching_result.xlsx")
    assert list(record["hit"]) == [1, 1, 0, 0]
    assert record["log"].iloc[3].startswith("Match Log: Failed in Prefetch")


def test_judge_matches_unreadable_answers_and_names_the_file_as_the_reference(tmp_path):
    judge = FakeJudge(lambda r: "D", short_name="chatgpt-0125")
    result = mcq.score(
        mmstar_rows("a small flying animal"), get_benchmark("MMStar"), OLD, judge, stem=tmp_path / "M"
    )
    assert result.headline == 0.75
    assert (tmp_path / "M_openai_result.xlsx").exists()  # chatgpt-0125 -> 'openai' (name_str_map)
    [request] = judge.batches[0]
    assert request.temperature == 0 and request.max_tokens == 1024  # 2024.12 OpenAIWrapper default
    assert (
        "Question: q4?\nOptions: There are several options: \nA. dog\nB. cat\nC. fish\nD. bird\n\n"
        in request.prompt
    )
    assert request.prompt.endswith("Answer: a small flying animal\nYour output: ")


def test_random_choice_after_three_failed_judge_calls_is_seeded(tmp_path):
    judge = FakeJudge(lambda r: "I am not sure")
    picks = set()
    for _ in range(2):
        result = mcq.score(mmstar_rows(), get_benchmark("MMStar"), NEW, judge, stem=tmp_path / "M", seed=7)
        picks.add(result.rows["extracted"].iloc[3])
    assert len(judge.batches) == 6  # 3 rounds per run, one request each
    assert len(picks) == 1 and picks <= {"A", "B", "C", "D", "Z"}
    assert result.seed == 7 and result.metrics["random_after_judge_failures"] == 1
    assert (tmp_path / "M_gpt-4o-mini_result.xlsx").exists()


def test_judge_failure_text_is_never_an_answer(tmp_path):
    judge = FakeJudge(lambda r: "Failed to obtain answer via API. ")
    result = mcq.score(mmstar_rows(), get_benchmark("MMStar"), NEW, judge, stem=tmp_path / "M", seed=0)
    assert result.rows["how"].iloc[3] == "random"


def mmbench_rows():
    def row(index, answer, prediction):
        return {
            "index": index, "question": "q", "A": "dog", "B": "cat", "C": "fish", "answer": answer,
            "prediction": prediction, "category": "coarse_perception", "l2-category": "perception", "split": "dev",
        }  # fmt: skip

    return pd.DataFrame(
        [
            row(1, "A", "A"),
            row(1_000_001, "B", "B"),
            row(2_000_001, "C", "(C)"),
            row(2, "A", "A"),
            row(1_000_002, "B", "C"),  # wrong letter: the whole question fails at prefetch
            row(3, "A", "A"),
            row(1_000_003, "B", "the second one"),  # undecided
        ]
    )


def test_mmbench_circular_without_judge(tmp_path):
    card = get_benchmark("MMBench_DEV_EN_V11")
    result = mcq.score(mmbench_rows(), card, OLD, None, stem=tmp_path / "M", seed=0)
    acc = pd.read_csv(tmp_path / "M_acc.csv")
    assert list(acc.columns) == ["split", "Overall", "perception", "CP"]
    assert acc["Overall"].iloc[0] == pytest.approx(1 / 3)
    record = pd.read_excel(tmp_path / "M_exact_matching_result.xlsx")
    assert list(record["index"]) == [1, 2, 3]  # main rows only
    assert list(record["hit"]) == [1, 0, 0]
    assert record["log"].iloc[0] == "Succeed During Pre-fetching"
    assert record["log"].iloc[1].startswith("Failed in Prefetching Rolling 1: Answer is B")
    assert "exact_matching" in record["log"].iloc[2]
    assert result.metrics["rows_without_judge"] == 1
    # the per-row file has one line per copy: what was read from it and its question's verdict
    rows = result.rows.set_index("index")
    assert len(rows) == 7
    assert rows.loc[2_000_001, "extracted"] == "C" and rows.loc[2_000_001, "hit"] == 1
    assert rows.loc[1_000_002, "extracted"] == "C" and rows.loc[2, "hit"] == 0
    assert pd.isna(rows.loc[1_000_003, "extracted"]) and rows.loc[1_000_003, "how"] == "no_judge"


def test_mmbench_circular_with_judge_counts_a_question_only_if_every_copy_is_right(tmp_path):
    judge = FakeJudge(lambda r: "B")
    result = mcq.score(mmbench_rows(), get_benchmark("MMBench_DEV_EN_V11"), NEW, judge, stem=tmp_path / "M")
    assert result.headline == pytest.approx(2 / 3)
    assert sum(len(b) for b in judge.batches) == 1  # only the undecided copy goes to the judge
    judge_no = FakeJudge(lambda r: "C")
    result = mcq.score(
        mmbench_rows(), get_benchmark("MMBench_DEV_EN_V11"), NEW, judge_no, stem=tmp_path / "N"
    )
    assert result.headline == pytest.approx(1 / 3)
    rows = result.rows.set_index("index")
    assert "Failed in Rolling 1" in rows.loc[3, "log"]
    assert rows.loc[1_000_003, "extracted"] == "C" and rows.loc[1_000_003, "how"] == "judge"


def test_mmmu_open_questions_become_two_option_questions(tmp_path):
    rows = pd.DataFrame(
        [
            {
                "index": 1,
                "question": "q",
                "A": NAN,
                "B": NAN,
                "answer": "42",
                "prediction": "42",
                "split": "validation",
            },
            {
                "index": 2,
                "question": "q",
                "A": "x",
                "B": "y",
                "answer": "B",
                "prediction": "A",
                "split": "validation",
            },
            {
                "index": 3,
                "question": "q",
                "A": "x",
                "B": "y",
                "answer": "A",
                "prediction": "A",
                "split": "dev",
            },
        ]
    )
    result = mcq.score(rows, get_benchmark("MMMU_DEV_VAL"), OLD, None, stem=tmp_path / "M", seed=0)
    acc = pd.read_csv(tmp_path / "M_acc.csv")
    assert list(acc["split"]) == ["dev", "validation"]
    assert list(acc["Overall"]) == [1.0, 0.5]
    assert result.headline == 0.5 and result.headline_name.startswith("validation")
    record = pd.read_excel(tmp_path / "M_exact_matching_result.xlsx")
    assert str(record.loc[0, "A"]) == "42" and record.loc[0, "B"] == "Other Answers"


def test_test_split_without_answers_is_not_scored(tmp_path):
    rows = mmbench_rows().drop(columns=["answer"])
    result = mcq.score(rows, get_benchmark("MMBench_TEST_EN_V11"), OLD, None, stem=tmp_path / "M", seed=0)
    assert result.headline is None
    assert "official MMBench evaluation server" in result.notes[0]
    assert (tmp_path / "M.xlsx").exists()


def test_report_acc_abbreviates_mmbench_abilities():
    df = pd.DataFrame(
        {"hit": [1, 0], "category": ["logic_reasoning", "finegrained_perception (cross-instance)"]}
    )
    acc = mcq.report_acc(df)
    assert list(acc.columns) == ["split", "Overall", "FP-C", "LR"]
    assert np.isclose(acc["Overall"].iloc[0], 0.5)
