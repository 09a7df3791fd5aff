"""LLaVA-Bench: judge review parsing, -1 for unparsable reviews, relative score."""

import pandas as pd

from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import score_frame
from vleval.families import llavabench
from vleval.protocol import Quirk, get_protocol
from vleval.synthetic.scripted_judge import ScriptedJudge

NEW = get_protocol("2026.08")
CARD = get_benchmark("LLaVABench")
REVIEWS = {"p1": "8 6\nAssistant 1 is better.", "p2": "9,9", "p3": "Score: 7 5", "p4": "10 5"}


def FakeJudge():
    return ScriptedJudge(
        lambda r, _: REVIEWS[r.prompt.split("[Assistant 2]\n")[1].split("\n")[0]],
        short_name="gpt-4-turbo",
        model="gpt-4-1106-preview",
    )


def rows():
    return pd.DataFrame(
        [
            {
                "index": i,
                "question": "q",
                "caption": "c",
                "gpt4_ans": "g",
                "prediction": f"p{i}",
                "category": cat,
            }
            for i, cat in [(1, "conv"), (2, "detail"), (3, "complex"), (4, "complex")]
        ]
    )


def test_scores_with_unparsable_reviews_averaged_in_as_minus_one(tmp_path):
    judge = FakeJudge()
    result = score_frame(rows(), CARD, NEW, judge, stem=tmp_path / "M_LLaVABench")
    table = pd.read_csv(tmp_path / "M_LLaVABench_score.csv")
    assert list(table.columns) == ["split", "Relative Score (main)", "VLM Score", "GPT4 Score"]
    assert list(table["split"]) == ["overall", "complex", "conv", "detail"]
    # scores 6, 9, -1, 5 (mean 4.75); gpt4 8, 9, -1, 10 (mean 6.5)
    assert table.iloc[0].tolist() == ["overall", 73.1, 47.5, 65.0]
    assert table.iloc[1].tolist() == ["complex", 44.4, 20.0, 45.0]
    assert result.record.headline == 73.1
    assert result.record.counts.fallback == 1  # the unparsable review, averaged in as -1
    assert (tmp_path / "M_LLaVABench_openai_result.xlsx").exists()
    request = judge.requests[0]
    assert request.temperature == 0.2
    assert request.system == "You are a helpful and precise assistant for checking the quality of the answer."
    assert request.prompt.startswith(
        "[Context]\nc\n\n[Question]\nq\n\n[Assistant 1]\ng\n\n[End of Assistant 1]\n\n"
    )
    assert request.prompt.endswith("does not affect your judgment.\n\n")


def test_without_the_quirk_unparsable_reviews_are_left_out(tmp_path):
    import dataclasses

    protocol = dataclasses.replace(NEW, quirks=NEW.quirks - {Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE})
    result = score_frame(rows(), CARD, protocol, FakeJudge(), stem=tmp_path / "M")
    # scores 6, 9, 5 / gpt4 8, 9, 10 -> 20 / 27
    assert result.record.headline == 74.1
    assert result.record.counts.unparsed == 1


def test_parse_score():
    assert llavabench.parse_score("8 6\nbecause") == (8.0, 6.0)
    assert llavabench.parse_score("8, 6") is None  # '8  6' splits into three fields
    assert llavabench.parse_score("7.5,9") == (7.5, 9.0)
    assert llavabench.parse_score("Failed to obtain answer via API. ") is None
