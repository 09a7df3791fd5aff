"""Several processes (torchrun, gloo on CPU) and killed runs: the outputs never change."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pandas as pd
from runner_support import (
    MODEL_NAME,
    assert_same_outputs,
    run_args,
    run_subprocess,
    subprocess_env,
    torchrun_command,
    vleval_command,
)


def _run_json(work: Path) -> dict:
    return json.loads((work / MODEL_NAME / "run.json").read_text())


def test_two_torchrun_processes_give_the_single_process_outputs(
    reference_run, tiny_model, bench_dir, tmp_path
):
    work = tmp_path / "work"
    proc = run_subprocess(
        [*torchrun_command(2), "run", *run_args(tiny_model, bench_dir, work), "--verbose"], 240
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "[rank 0]" in proc.stdout and "[rank 1]" in proc.stdout  # both ranks inferred
    assert proc.stdout.count("TinyVL-Qwen2  ") == 1  # one summary table, printed by rank 0
    assert_same_outputs(work, reference_run)
    texts = pd.read_excel(work / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx")["prediction"].dropna().astype(str)
    assert texts.str.len().sum() > 0, "the tiny model answered nothing: the comparison would prove nothing"
    run = _run_json(work)
    assert run["world_size"] == 2 and run["datasets"]["MMStar"]["inferred_this_run"] == 6


def _wait_for(condition, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the run never reached the point where it should be killed")
        time.sleep(0.02)


def _records(work: Path) -> int:
    folder = work / MODEL_NAME / ".progress"
    return sum(p.read_bytes().count(b"\n") for p in folder.rglob("*.jsonl")) if folder.is_dir() else 0


def test_sigkill_at_several_points_then_resume_with_two_ranks_gives_identical_outputs(
    reference_run, tiny_model, bench_dir, tmp_path
):
    work = tmp_path / "work"
    command = [*vleval_command(), "run", *run_args(tiny_model, bench_dir, work), "--batch-size", "1"]
    kill_points = [
        lambda: _records(work) >= 1,  # first sample durable, the rest of MMStar pending
        lambda: (work / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx").exists(),  # MMStar merged
        lambda: _records(work) >= 7,  # inside OCRBench
    ]
    for reached in kill_points:
        proc = subprocess.Popen(
            command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _wait_for(lambda proc=proc, reached=reached: reached() or proc.poll() is not None)
        finally:
            proc.kill()  # SIGKILL: no cleanup runs
            proc.wait()
    assert (work / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx").exists()

    # resume with another world size: finished samples are reused whatever rank made them
    proc = run_subprocess([*torchrun_command(2), "run", *run_args(tiny_model, bench_dir, work)], 240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_same_outputs(work, reference_run)
    run = _run_json(work)
    assert run["datasets"]["MMStar"]["reused"] >= 1
    assert run["datasets"]["MMStar"]["inferred_this_run"] + run["datasets"]["MMStar"]["reused"] == 6
