"""MCQ scoring (MMStar/AI2D vanilla, MMBench circular, MMMU) against hand-computed expectations."""

import numpy as np
import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.families import mcq
from vleval.protocol import get_protocol
from vleval.synthetic.scripted_judge import ScriptedJudge

OLD, NEW = get_protocol("2024.12"), get_protocol("2026.08")
NAN = float("nan")


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
    result = score_frame(
        mmstar_rows(), get_benchmark("MMStar"), OLD, None, stem=tmp_path / "M_MMStar", seed=0
    )
    acc = pd.read_csv(tmp_path / "M_MMStar_acc.csv")
    assert list(acc.columns) == ["split", "Overall", "L1", "L2", "x", "y"]
    assert acc.iloc[0].tolist() == ["none", 0.5, 0.5, 0.5, 1.0, 0.0]
    assert result.record.headline == 50.0 and result.record.native == {"Overall (fraction)": 0.5}
    assert (tmp_path / "M_MMStar_exact_matching_result.xlsx").exists()
    assert [r.extracted for r in result.rows] == ["B", "A", "A", "Z"]
    assert result.record.counts.fallback == 1  # the row without a judge
    assert "1 row(s)" in result.record.notes[0]
    record = pd.read_excel(tmp_path / "M_MMStar_exact_matching_result.xlsx")
    assert list(record["hit"]) == [1, 1, 0, 0]
    assert record["log"].iloc[3].startswith("Match Log: Failed in Prefetch")


def test_judge_matches_unreadable_answers_and_names_the_file_as_the_reference(tmp_path):
    judge = ScriptedJudge("D", short_name="chatgpt-0125")
    result = score_frame(
        mmstar_rows("a small flying animal"), get_benchmark("MMStar"), OLD, judge, stem=tmp_path / "M"
    )
    assert result.record.headline == 75.0
    assert (tmp_path / "M_openai_result.xlsx").exists()  # chatgpt-0125 -> 'openai' (name_str_map)
    [request] = judge.batches[0]
    assert request.temperature == 0 and request.max_tokens == 1024  # 2024.12 OpenAIWrapper default
    assert (
        "Question: q4?\nOptions: There are several options: \nA. dog\nB. cat\nC. fish\nD. bird\n\n"
        in request.prompt
    )
    assert request.prompt.endswith("Answer: a small flying animal\nYour output: ")


def test_random_choice_after_three_failed_judge_calls_is_seeded(tmp_path):
    judge = ScriptedJudge("I am not sure")
    picks = set()
    for _ in range(2):
        result = score_frame(mmstar_rows(), get_benchmark("MMStar"), NEW, judge, stem=tmp_path / "M", seed=7)
        picks.add(result.rows[3].extracted)
    assert len(judge.batches) == 6  # 3 rounds per run, one request each
    assert len(picks) == 1 and picks <= {"A", "B", "C", "D", "Z"}
    assert result.record.seed == 7 and result.rows[3].decided_by == "fallback"
    assert result.record.counts.fallback == 1 and result.record.complete
    assert (tmp_path / "M_gpt-4o-mini_result.xlsx").exists()


def test_judge_failure_text_is_never_an_answer(tmp_path):
    judge = ScriptedJudge("Failed to obtain answer via API. ")
    result = score_frame(mmstar_rows(), get_benchmark("MMStar"), NEW, judge, stem=tmp_path / "M", seed=0)
    # the reference's random option is still drawn (its number), but the row is a failed judge call
    assert result.rows[3].extracted in {"A", "B", "C", "D", "Z"}
    assert result.rows[3].decided_by == "failed"
    assert result.record.counts.failed == 1 and not result.record.complete


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
    result = score_frame(mmbench_rows(), card, OLD, None, stem=tmp_path / "M", seed=0)
    acc = pd.read_csv(tmp_path / "M_acc.csv")
    assert list(acc.columns) == ["split", "Overall", "perception", "CP"]
    assert acc["Overall"].iloc[0] == pytest.approx(1 / 3)
    record = pd.read_excel(tmp_path / "M_exact_matching_result.xlsx")
    assert list(record["index"]) == [1, 2, 3]  # main rows only
    assert list(record["hit"]) == [1, 0, 0]
    assert record["log"].iloc[0] == "Succeed During Pre-fetching"
    assert record["log"].iloc[1].startswith("Failed in Prefetching Rolling 1: Answer is B")
    assert "exact_matching" in record["log"].iloc[2]
    assert result.record.counts.fallback == 1  # the undecided copy, without a judge
    # the per-row file has one line per copy: what was read from it and its question's verdict
    rows = result.rows_frame().set_index("index")
    assert len(rows) == 7
    assert rows.loc[2_000_001, "extracted"] == "C" and rows.loc[2_000_001, "extra"]["question_hit"] == 1
    assert rows.loc[1_000_002, "extracted"] == "C" and rows.loc[2, "extra"]["question_hit"] == 0
    assert pd.isna(rows.loc[1_000_003, "extracted"]) and rows.loc[1_000_003, "decided_by"] == "fallback"
    assert list(rows["unit"]) == ["1", "1", "1", "2", "2", "3", "3"]  # index mod 1e6


def test_mmbench_circular_with_judge_counts_a_question_only_if_every_copy_is_right(tmp_path):
    judge = ScriptedJudge("B")
    result = score_frame(mmbench_rows(), get_benchmark("MMBench_DEV_EN_V11"), NEW, judge, stem=tmp_path / "M")
    assert result.record.headline == pytest.approx(200 / 3)
    assert sum(len(b) for b in judge.batches) == 1  # only the undecided copy goes to the judge
    judge_no = ScriptedJudge("C")
    result = score_frame(
        mmbench_rows(), get_benchmark("MMBench_DEV_EN_V11"), NEW, judge_no, stem=tmp_path / "N"
    )
    assert result.record.headline == pytest.approx(100 / 3)
    record = pd.read_excel(tmp_path / "N_gpt-4o-mini_result.xlsx").set_index("index")
    assert "Failed in Rolling 1" in record.loc[3, "log"]
    rows = result.rows_frame().set_index("index")
    assert rows.loc[1_000_003, "extracted"] == "C" and rows.loc[1_000_003, "decided_by"] == "judge"


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
    result = score_frame(rows, get_benchmark("MMMU_DEV_VAL"), OLD, None, stem=tmp_path / "M", seed=0)
    acc = pd.read_csv(tmp_path / "M_acc.csv")
    assert list(acc["split"]) == ["dev", "validation"]
    assert list(acc["Overall"]) == [1.0, 0.5]
    assert result.record.headline == 50.0 and result.record.headline_name.startswith("validation")
    record = pd.read_excel(tmp_path / "M_exact_matching_result.xlsx")
    assert str(record.loc[0, "A"]) == "42" and record.loc[0, "B"] == "Other Answers"


def test_test_split_without_answers_is_not_scored(tmp_path):
    rows = mmbench_rows().drop(columns=["answer"])
    result = score_frame(rows, get_benchmark("MMBench_TEST_EN_V11"), OLD, None, stem=tmp_path / "M", seed=0)
    assert result.record.headline is None
    assert "official MMBench evaluation server" in result.record.notes[0]
    assert (tmp_path / "M.xlsx").exists()


def test_report_acc_abbreviates_mmbench_abilities():
    df = pd.DataFrame(
        {"hit": [1, 0], "category": ["logic_reasoning", "finegrained_perception (cross-instance)"]}
    )
    acc = mcq.report_acc(df)
    assert list(acc.columns) == ["split", "Overall", "FP-C", "LR"]
    assert np.isclose(acc["Overall"].iloc[0], 0.5)


def test_mmbench_circular_asks_the_judge_exactly_what_the_reference_asks(tmp_path):
    """eval_circular_group stops at the first rotation judged wrong: later rotations of that question
    never reach the judge. Rotation k of every live question goes out as one batch."""

    def row(index, answer):
        return {"index": index, "question": "q", "A": "dog", "B": "cat", "C": "fish", "answer": answer,
                "prediction": "no idea", "category": "coarse_perception", "split": "dev"}  # fmt: skip

    data = pd.DataFrame(
        [
            row(1, "A"),
            row(1_000_001, "B"),
            row(2_000_001, "C"),
            row(2, "B"),
            row(1_000_002, "C"),
            row(2_000_002, "A"),
        ]
    )
    gold = dict(zip(data["index"], data["answer"], strict=True))

    def answer(request, batch):
        # question 1 is judged right on every rotation; question 2 wrong on its first
        return {0: "A", 1: "B", 2: "C"}[batch] if "q1" in request.prompt else "C"

    data["question"] = [f"q{i % 1_000_000}" for i in data["index"]]
    judge = ScriptedJudge(answer)
    result = score_frame(data, get_benchmark("MMBench_DEV_EN_V11"), NEW, judge, stem=tmp_path / "M")
    assert [len(b) for b in judge.batches] == [2, 1, 1]  # rotation 0 of both, then question 1 alone
    assert sum(len(b) for b in judge.batches) == 4  # not 6: question 2's rotations 1, 2 are never asked
    assert result.record.headline == 50.0
    by_index = {r.index: r for r in result.rows}
    assert [by_index[i].decided_by for i in (2, 1_000_002, 2_000_002)] == ["judge", "skipped", "skipped"]
    assert by_index[2].extracted == "C" != gold[2]
    assert mcq.FAMILY.aggregate(result.rows)["headline"] == 50.0


def reference_is_circular(name: str) -> bool:
    """The reference's rule, by dataset name (VK vlmeval/dataset/image_mcq.py::ImageMCQDataset.evaluate:
    listinstr(['mmbench', 'ccbench', 'circular', 'mmcr'], dataset.lower()))."""
    return any(key in name.lower() for key in ("mmbench", "ccbench", "circular", "mmcr"))


@pytest.mark.parametrize("card", mcq.FAMILY.cards(), ids=lambda card: card.name)
def test_card_flags_say_what_the_reference_decides_by_name(card):
    """The flags replace the reference's name tests, so a new card must set them as its name would:
    circular evaluation by the name list above, MMMU_preproc and the validation headline for 'MMMU'
    (VK image_mcq.py::ImageMCQDataset.evaluate, MMMUDataset)."""
    assert card.circular == reference_is_circular(card.name)
    assert card.open_questions == ("MMMU" in card.name)
    assert card.headline_split == ("validation" if "MMMU" in card.name else None)
def test_mmt_bench_meta_task_is_the_mean_of_its_subtasks_and_the_headline_the_all_row(tmp_path):
    opts = {"A": "dog", "B": "cat"}
    rows = [  # (index, subtask, meta-task, prediction) answer always A
        (0, "t1", "ocr", "A"), (1, "t1", "ocr", "B"), (2, "t1", "ocr", "B"), (3, "t1", "ocr", "B"),
        (4, "t2", "ocr", "A"),  # ocr: mean(25%, 100%) = 62.5%, not 2/5 of its rows
        (5, "t3", "counting", "A"),
    ]  # fmt: skip
    frame = pd.DataFrame(
        [
            {
                "index": i,
                "question": "q",
                **opts,
                "answer": "A",
                "prediction": p,
                "category": c,
                "l2-category": l2,
            }
            for i, c, l2, p in rows
        ]  # fmt: skip
    )
    result = score_frame(frame, get_benchmark("MMT-Bench_VAL"), OLD, None, stem=tmp_path / "M_MMT", seed=0)
    acc = pd.read_csv(tmp_path / "M_MMT_acc.csv")
    assert list(acc["split"]) == ["none", "ALL"]
    assert list(acc.columns) == ["split", "Overall", "OCR", "Count", "t1", "t2", "t3"]
    assert acc.iloc[1]["OCR"] == 0.625 and acc.iloc[1]["Count"] == 1.0 and acc.iloc[1]["t1"] == 0.25
    assert result.record.headline == 50.0 and result.record.headline_name == "Overall accuracy"
    assert "OCR" in result.record.categories and "t1" in result.record.categories


def test_blink_asks_the_judge_with_its_own_prompt_and_chinese_mmbench_with_the_chinese_one():
    judge = ScriptedJudge("A", short_name="gpt-4o-mini")
    blink = pd.DataFrame([{"index": 1, "question": "Which point is closer?", "A": "Point A", "B": "Point B",
                           "answer": "A", "prediction": "the left one", "category": "Relative_Depth"}])  # fmt: skip
    mcq.FAMILY.score(blink, get_benchmark("BLINK"), NEW, judge, seed=0)
    assert "(Z) Failed" in judge.requests[0].prompt and "I'm sorry" in judge.requests[0].prompt
    judge = ScriptedJudge("A", short_name="gpt-4o-mini")
    cn = pd.DataFrame([{"index": 1, "question": "哪个点更近？", "A": "左边", "B": "右边", "answer": "A",
                        "prediction": "看不出来", "category": "x"}])  # fmt: skip
    mcq.FAMILY.score(cn, get_benchmark("MMBench_DEV_CN_V11"), NEW, judge, seed=0)
    assert "单选题" in judge.requests[0].prompt
