"""The one settings record (issue 18 item 3): written with the score, read by one reader, and every
difference and non-default value shown by compare and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.results import read_score, score_record_path
from vleval.datasets.scoring import evaluate
from vleval.errors import DataCorruptError
from vleval.families.base import default_judge
from vleval.protocol import get_protocol
from vleval.report.collect import collect_runs
from vleval.settings import differences, non_defaults, settings_of
from vleval.synthetic.scripted_judge import ScriptedJudge
from vleval.types import EvalSettings
from vleval.workdir import manifest_from_json
from vleval.workflows.compare import compare_runs

MODEL = "TinyVL"
TABLE = pd.DataFrame(
    [{"index": i, "question": f"q{i}", "A": "cat", "B": "dog", "C": "cow", "D": "pig", "answer": "B",
      "category": "c"} for i in range(6)]
)  # fmt: skip


def _scored(work: Path, settings: EvalSettings | None, run_json: dict | None = None) -> Path:
    model_dir = work / MODEL
    model_dir.mkdir(parents=True)
    pred = write_prediction_file(
        model_dir / f"{MODEL}_MMStar.xlsx", TABLE, {i: "B" if i % 2 else "A" for i in range(6)}
    )
    judge = ScriptedJudge("never asked", short_name="chatgpt-0125", model="gpt-3.5-turbo-0125")
    evaluate(get_benchmark("MMStar"), get_protocol("2024.12"), pred, judge, table=TABLE, settings=settings)
    if run_json is not None:
        (model_dir / "run.json").write_text(json.dumps(run_json))
    return work


def test_a_token_budget_and_md5_check_are_recorded_compared_and_reported(tmp_path):
    a = _scored(tmp_path / "a", EvalSettings(cot=False, max_new_tokens=16, verify_md5=False))
    b = _scored(tmp_path / "b", EvalSettings(cot=False, max_new_tokens=32, verify_md5=False))
    comparison = compare_runs(a, b)
    assert "token budget: A 16, B 32 (MMStar)" in comparison.other_differences
    run = collect_runs(b)[0]
    described = run.settings.describe()
    assert "token budget 32" in described and "md5 check off" in described and "CoT off" in described


def test_an_older_run_json_is_read_by_the_same_reader(tmp_path):
    """Records of an older vleval carry no settings: run.json's keys (max_new_tokens, not
    max_new_tokens_override) are read instead, so a 16- vs 32-token pair is still flagged."""
    old = {"settings": {"cot": False, "max_new_tokens": 16}, "versions": {"vleval": "0.0.9"}}
    a = _scored(tmp_path / "a", None, old)
    b = _scored(tmp_path / "b", None, {**old, "settings": {"cot": False, "max_new_tokens": 32}})
    for side in (a, b):  # as an older vleval wrote it: no settings in the score record
        path = score_record_path(side / MODEL / f"{MODEL}_MMStar")
        data = json.loads(path.read_text())
        del data["settings"]
        path.write_text(json.dumps(data))
    assert read_score(path).settings is None
    assert "token budget: A 16, B 32 (MMStar)" in compare_runs(a, b).other_differences
    assert settings_of(read_score(path), manifest_from_json(old), "MMStar").vleval_version == "0.0.9"


def test_a_record_from_a_newer_settings_schema_is_refused_clearly(tmp_path):
    path = score_record_path(_scored(tmp_path / "a", EvalSettings()) / MODEL / f"{MODEL}_MMStar")
    data = json.loads(path.read_text())
    data["settings"]["schema"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(DataCorruptError, match="settings schema 99.*upgrade vleval"):
        read_score(path)


def test_every_setting_that_differs_is_listed_and_non_defaults_named():
    base = EvalSettings(protocol="2024.12", cot=False, dtype="bfloat16", backend="hf", seed=0)
    other = EvalSettings(protocol="2026.08", cot=True, dtype="float16", backend="vllm", seed=0, attention="sdpa",
                         max_new_tokens=32, verify_md5=False)  # fmt: skip
    labels = {d.label for d in differences(base, other)}
    assert {"protocol", "CoT", "dtype", "backend", "attention kernel", "token budget", "md5 check"} <= labels
    assert {d.label for d in differences(base, other, decisive=True)} == {"protocol", "CoT"}
    shown = non_defaults(other)
    assert "token budget 32" in shown and "dtype float16" in shown and "md5 check off" in shown
    assert non_defaults(base) == []


def test_rule_only_scoring_is_recorded_and_compare_treats_it_as_another_setting(tmp_path):
    """Issue 18 item 2: MMStar's protocol names a judge; scored without it the record says rule-only
    and compare refuses to set it beside a judged run as if they were made the same way."""
    from vleval.errors import VlevalError

    judged = _scored(tmp_path / "a", EvalSettings(cot=False))
    model_dir = tmp_path / "b" / MODEL
    model_dir.mkdir(parents=True)
    pred = write_prediction_file(
        model_dir / f"{MODEL}_MMStar.xlsx", TABLE, {i: "B" if i % 2 else "A" for i in range(6)}
    )
    record = evaluate(get_benchmark("MMStar"), get_protocol("2024.12"), pred, None, table=TABLE,
                      settings=EvalSettings(cot=False)).record  # fmt: skip
    assert record.settings.rule_only and record.settings.judge is None
    assert record.settings.protocol_judge == "gpt-3.5-turbo-0125"
    with pytest.raises(VlevalError, match="judge used: A the protocol's judge, B rule-only"):
        compare_runs(judged, tmp_path / "b")
    ocr = get_benchmark("OCRBench")  # a rule-based metric: no judge to miss
    assert default_judge(get_protocol("2024.12"), ocr) is None


def test_thinking_and_sampling_settings_are_named_and_round_trip():
    """A thinking run's record names thinking mode, its decoding and its seeds; a record written before
    thinking mode could run (none of these fields) reads as a greedy non-thinking run, so older results
    still compare with new greedy ones."""
    from vleval.settings import settings_from_json, settings_json

    thinking = EvalSettings(
        protocol="2026.08", thinking=True, temperature=0.6, top_p=0.95, sampling_seeds=(0, 1, 2)
    )
    older = settings_from_json({"protocol": "2026.08"})
    assert settings_from_json(json.loads(json.dumps(settings_json(thinking)))) == thinking
    shown = {d.label: (d.a, d.b, d.decisive) for d in differences(thinking, older)}
    assert shown["thinking mode"] == ("on", "off", True)
    assert shown["decoding"] == ("sampled at temperature 0.6, top_p 0.95", "greedy", True)
    assert shown["sampling seeds"] == ("3 (0, 1, 2)", "none", False)
    assert not differences(older, EvalSettings(protocol="2026.08", thinking=False))


def test_a_runs_stand_in_judge_marks_its_own_scoring_not_a_later_eval(tmp_path):
    """A demo-like run answered by the stand-in judge, then re-scored by `vleval eval` with a judge:
    the eval's score is not marked "stand-in judge" (run.json says who scored it)."""
    from vleval.settings import STAND_IN_MARK, marks

    run_json = {"stand_in_judge": True, "datasets": {"MMStar": {"settings": {"cot": False}}}}
    work = _scored(tmp_path / "a", EvalSettings(cot=False), run_json)
    record = read_score(score_record_path(work / MODEL / f"{MODEL}_MMStar"))
    assert STAND_IN_MARK in marks(settings_of(record, manifest_from_json(run_json), "MMStar"))
    run_json["datasets"]["MMStar"]["scored_by"] = "eval"
    assert STAND_IN_MARK not in marks(settings_of(record, manifest_from_json(run_json), "MMStar"))
