"""`vleval export --inspect-log DIR`: inspect_ai eval logs, read back with inspect_ai's own reader and
listing (skipped where inspect_ai is not installed; it is an optional extra)."""

from __future__ import annotations

import json

import pytest

from vleval.cli import main
from vleval.datasets.results import read_rows, read_score

MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def test_the_logs_follow_the_eval_log_layout(work_dirs, tmp_path):
    direct, _ = work_dirs
    assert main(["export", "--work-dir", str(direct), "--inspect-log", str(tmp_path / "logs")]) == 0
    (path,) = (tmp_path / "logs").glob("*_MMStar_*.json")
    log = json.loads(path.read_text())
    record = read_score(direct / MODEL / f"{MODEL}_MMStar_score.json")
    assert (
        log["version"] == 2 and log["eval"]["task"] == "MMStar" and log["eval"]["model"] == f"vleval/{MODEL}"
    )
    assert log["results"]["scores"][0]["metrics"]["headline"]["value"] == record.headline
    rows = read_rows(direct / MODEL / f"{MODEL}_MMStar_rows.jsonl")
    assert [s["scores"]["vleval"]["value"] for s in log["samples"]] == [r.score for r in rows]


def test_inspect_ai_reads_and_lists_the_logs(work_dirs, tmp_path):
    pytest.importorskip("inspect_ai")
    from inspect_ai.log import list_eval_logs, read_eval_log

    direct, _ = work_dirs
    out = tmp_path / "logs"
    assert main(["export", "--work-dir", str(direct), "--inspect-log", str(out)]) == 0
    infos = list_eval_logs(str(out))
    assert sorted(i.task for i in infos) == ["MMMU-DEV-VAL", "MMStar", "OCRBench"]
    logs = {log.eval.task: log for log in (read_eval_log(i.name) for i in infos)}
    mmstar = logs["MMStar"]
    record = read_score(direct / MODEL / f"{MODEL}_MMStar_score.json")
    assert (
        mmstar.status == "success" and mmstar.results.scores[0].metrics["headline"].value == record.headline
    )
    assert mmstar.eval.metadata["protocol"] == "2024.12"
    assert len(mmstar.samples) == record.counts.total and mmstar.samples[0].scores["vleval"].value in (
        0.0,
        1.0,
    )
