"""vleval's scoring of the issue-21 MCQ and Y/N benchmarks equals the reference's own ``evaluate``.

The fixtures in ``data/scoring_<benchmark>_<protocol>.json`` were recorded by
``bench/parity_scoring.py``: the prediction rows (written by ``write_prediction_file`` from a synthetic
benchmark file, one edge case per row: bare, wrong and 'The answer is X' letters, option text, answers
only the judge can read or that nobody can, MME image pairs with one question right, POPE's 'Yes, ...'
and 'Yes and no.') and what VLMEvalKit (b13a37db for 2024.12, e8e78f05 for 2026.08) wrote when
scoring them with run.py's default judge, answered by the stand-in judge's rules: its result table,
each row's verdict and every prompt its judge was sent. Here vleval scores the same rows with the same
judge rules in process, and everything must be equal, floats to the last bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vleval.datasets.registry import get_benchmark
from vleval.families.base import default_judge, family_of
from vleval.protocol import get_protocol
from vleval.synthetic.scripted_judge import stand_in_judge

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(DATA.glob("scoring_*.json"))


def _records(frame: pd.DataFrame) -> list[dict]:
    def plain(value):
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and value != value else value

    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _by_split(table: list[dict]) -> list[dict]:
    return sorted(table, key=lambda row: str(row.get("split", "")))  # the reference orders splits as a set


def test_every_new_mcq_and_yorn_benchmark_has_fixtures_under_both_pinned_protocols():
    names = {"MMBench_DEV_CN_V11", "RealWorldQA", "ScienceQA_TEST", "SEEDBench_IMG", "SEEDBench2_Plus",
             "MMT-Bench_VAL", "BLINK", "MME", "POPE"}  # fmt: skip
    assert {p.name for p in FIXTURES} == {
        f"scoring_{n}_{p}.json" for n in names for p in ("2024.12", "2026.08")
    }


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem.removeprefix("scoring_"))
def test_scoring_equals_the_reference_evaluate(path):
    fixture = json.loads(path.read_text(encoding="utf-8"))
    card, protocol = get_benchmark(fixture["benchmark"]), get_protocol(fixture["protocol"])
    judge = stand_in_judge(default_judge(protocol, card))
    family = family_of(card)
    scored = family.score(pd.DataFrame(fixture["rows"]), card, protocol, judge, seed=0)

    written = sorted(o.suffix for o in scored.outputs)  # the reference's files but its pickle cache
    assert written == [f for f in fixture["reference_files"] if not f.endswith(".pkl")]
    table = next(iter(scored.tables.values()))
    assert _by_split(_records(table)) == _by_split(fixture["reference_table"])
    verdicts = scored.outputs[0].content
    column = fixture["reference_rows_column"]
    assert {str(i): str(v) for i, v in zip(verdicts["index"], verdicts[column], strict=True)} == fixture[
        "reference_rows"
    ]
    # the judge was asked exactly what the reference's judge was asked, as often
    assert sorted(request.prompt for request in judge.requests) == fixture["reference_judge_prompts"]
    assert fixture["reference_judge_prompts"]  # every case has rows only the judge can read


@pytest.mark.parametrize("path", [p for p in FIXTURES if "2026.08" in p.name], ids=lambda p: p.stem)
def test_the_headline_is_the_reference_tables_figure(path):
    """The headline (the report's 0-100 figure) read off the reference's own table."""
    fixture = json.loads(path.read_text(encoding="utf-8"))
    card, protocol = get_benchmark(fixture["benchmark"]), get_protocol(fixture["protocol"])
    scored = family_of(card).score(
        pd.DataFrame(fixture["rows"]), card, protocol, stand_in_judge(default_judge(protocol, card)), seed=0
    )
    table = {str(row.get("split")): row for row in fixture["reference_table"]}
    if card.name == "MME":  # perception + reasoning, of 2800 points
        line = fixture["reference_table"][0]
        assert scored.headline == (line["perception"] + line["reasoning"]) / 28
    elif card.name == "POPE":  # F1 over every split's rows
        assert scored.headline == table["Overall"]["Overall"]
    elif card.name == "MMT-Bench_VAL":  # report_acc_MMT's all-splits row
        assert scored.headline == table["ALL"]["Overall"] * 100
    else:
        assert scored.headline == next(iter(table.values()))["Overall"] * 100
