"""MathVista: prefetch, judge extraction, per task/skill accuracy, and the reference's quirks."""

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.errors import VlevalError
from vleval.families import mathvista
from vleval.protocol import get_protocol
from vleval.synthetic.scripted_judge import ScriptedJudge

NEW = get_protocol("2026.08")
CARD = get_benchmark("MathVista_MINI")
JUDGE_READS = {"8.0": "8.0", "[1, 2]": "[1, 2]", "0": "0", "about 1.5 cm": "1.5"}


def FakeJudge(answer):
    return ScriptedJudge(lambda request, _: answer(request.prompt))


def reads_prediction(prompt):
    return JUDGE_READS[prompt.rpartition("Model respone: ")[2].removesuffix("Extracted answer:")]


def rows():
    def row(i, qtype, atype, answer, pred, task, skills, choices=None, option=None):
        return {"index": i, "question": f"Question {i}", "question_type": qtype, "answer_type": atype,
                "answer": answer, "prediction": pred, "task": task, "skills": skills, "choices": choices,
                "answer_option": option, "precision": 1.0}  # fmt: skip

    return pd.DataFrame(
        [
            row(1, "free_form", "integer", "3", "3", "T1", "['arithmetic', 'algebra']"),
            row(2, "free_form", "integer", "8", "8.0", "T1", "['arithmetic']"),
            row(3, "free_form", "list", "[1, 2]", "[1, 2]", "T1", "['arithmetic']"),
            row(
                4,
                "multi_choice",
                "text",
                "8/11",
                "A",
                "T2",
                "['arithmetic']",
                "['3/11', '8/11', '6/11']",
                "B",
            ),
            row(5, "free_form", "integer", "0", "0", "T2", "['arithmetic']"),
            row(6, "free_form", "float", "1.5", "about 1.5 cm", "T2", "['statistics']"),
        ]
    )


def test_scores_per_task_and_skill_with_the_reference_quirks(tmp_path):
    judge = FakeJudge(reads_prediction)
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M_MathVista_MINI")
    table = pd.read_csv(tmp_path / "M_MathVista_MINI_gpt-4o-mini_score.csv")
    assert list(table.columns) == ["Task&Skill", "tot", "prefetch", "hit", "prefetch_rate", "acc"]
    assert list(table["Task&Skill"]) == ["Overall", "arithmetic", "algebra", "T1", "T2", "statistics"]
    assert list(table["tot"]) == [6, 5, 1, 3, 3, 1]
    assert list(table["prefetch"]) == [2, 2, 1, 1, 1, 0]  # rows 1 and 4 (a wrong letter is a 'success')
    assert list(table["hit"]) == [3, 2, 1, 1, 2, 1]  # 8.0 for 8, list answers and the wrong letter miss
    assert result.record.headline == 50.0
    assert (tmp_path / "M_MathVista_MINI_gpt-4o-mini.xlsx").exists()
    # prefetched 0 is falsy: row 5 went to the judge, like rows 2, 3 and 6
    [batch] = judge.batches
    assert len(batch) == 4 and {r.max_tokens for r in batch} == {128} and batch[0].temperature == 0
    assert batch[0].prompt.endswith("Question 2\nModel respone: 8.0Extracted answer:")
    assert [r.score for r in result.rows] == [1, 0, 0, 0, 1, 1]


def test_prefetch_rules():
    row = rows().to_dict(orient="records")
    assert mathvista.post_check(row[0], NEW, prefetch=True) == 3
    assert mathvista.post_check(row[3], NEW, prefetch=True) == "A"
    assert mathvista.post_check(row[1], NEW, prefetch=True) is False


def test_judge_that_always_fails_leaves_an_empty_answer(tmp_path):
    judge = FakeJudge(lambda prompt: "Failed to obtain answer via API. ")
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M")
    assert [b[0].temperature for b in judge.batches] == [0.0, 0.5, 1.0, 1.5, 2.0]
    record = pd.read_excel(tmp_path / "M_gpt-4o-mini.xlsx")
    assert record["log"].iloc[1].endswith("All 5 retries failed.\n")
    assert pd.isna(record["res"].iloc[1])
    assert result.record.headline == pytest.approx(100 / 6)
    assert result.record.counts.failed == 4 and not result.record.complete


def test_requires_a_judge(tmp_path):
    with pytest.raises(VlevalError, match="--judge MODEL --judge-base-url URL"):
        score_frame(rows(), CARD, NEW, None, stem=tmp_path / "M")
