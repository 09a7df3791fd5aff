"""Rows read back from VLMEvalKit's own result files keep how they were decided (issue 18 item 7)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import evaluate
from vleval.protocol import get_protocol
from vleval.report.collect import collect_runs
from vleval.synthetic.scripted_judge import ScriptedJudge

MODEL = "InternVL2_5-8B"


def _as_vlmevalkit_left_it(model_dir: Path, benchmark: str) -> None:
    for suffix in ("_rows.jsonl", "_score.json", "_vleval.json"):
        for path in model_dir.glob(f"*{benchmark}*{suffix}"):
            path.unlink()


def test_mcq_rows_read_from_the_reference_result_file_say_rule_or_judge(tmp_path):
    model_dir = tmp_path / "work" / MODEL
    model_dir.mkdir(parents=True)
    table = pd.DataFrame(
        [{"index": i, "question": f"q{i}", "A": "cat", "B": "dog", "C": "cow", "D": "pig", "answer": "B",
          "category": "c"} for i in range(3)]
    )  # fmt: skip
    predictions = {0: "B", 1: "no idea at all", 2: "A"}
    pred = write_prediction_file(model_dir / f"{MODEL}_MMStar.xlsx", table, predictions)
    judge = ScriptedJudge("B", short_name="chatgpt-0125", model="gpt-3.5-turbo-0125")
    evaluate(get_benchmark("MMStar"), get_protocol("2024.12"), pred, judge, table=table)
    _as_vlmevalkit_left_it(model_dir, "MMStar")
    (run,) = collect_runs(tmp_path / "work")
    verdicts = {s.index: s.verdict for s in run.samples}
    assert verdicts["0"].startswith("matched by rule") and verdicts["2"].startswith("matched by rule")
    assert verdicts["1"].startswith("decided by the judge")
