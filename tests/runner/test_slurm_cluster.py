"""`vleval slurm --submit` on a real single-node Slurm cluster (.ci/services.d/slurm.sh starts one)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from runner_support import (
    MODEL_NAME,
    assert_same_outputs,
    free_port,
    run_args,
    run_subprocess,
    vleval_command,
)

pytestmark = pytest.mark.slurm


def _cluster_problem() -> str | None:
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return "Slurm client commands are not installed (CI starts a cluster with .ci/services.d/slurm.sh)"
    try:
        states = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer: the Slurm controller is not running (run .ci/services.d/slurm.sh)"
    usable = {"idle", "mix", "alloc"}
    if states.returncode != 0 or not usable & set(states.stdout.split()):
        return f"no usable Slurm node (sinfo: {states.stdout.strip() or states.stderr.strip()}); run .ci/services.d/slurm.sh"
    return None


def _wait_until_gone(job_id: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True
        ).stdout
        if not out.strip():
            return
        time.sleep(0.5)
    subprocess.run(["scancel", job_id], check=False)
    raise AssertionError(f"Slurm job {job_id} did not finish in {timeout:.0f} s")


def test_submitted_two_task_job_reproduces_the_single_process_run(
    reference_run, tiny_model, bench_dir, tmp_path
):
    problem = _cluster_problem()
    if problem:
        pytest.skip(problem)
    work, logs = tmp_path / "work", tmp_path / "logs_eval"
    command = [
        *vleval_command(), "slurm", "--gpus", "0", "--ntasks", "2", "--log-dir", str(logs), "--submit",
        *run_args(tiny_model, bench_dir, work), "--verbose",
    ]  # fmt: skip
    env = {"MASTER_PORT": str(free_port())}
    try:
        socket.gethostbyname(socket.gethostname())
    except OSError:  # the node name does not resolve here: rendezvous on loopback (single node)
        env["MASTER_ADDR"] = "127.0.0.1"
    proc = run_subprocess(command, 60, **env)
    assert proc.returncode == 0, proc.stderr
    assert "--async" not in proc.stdout and "quotatype" not in proc.stdout
    job_id = proc.stdout.strip().splitlines()[-1].split("job ")[1].split(",")[0]
    _wait_until_gone(job_id)
    log = (logs / MODEL_NAME / "evaluation.log").read_text()
    assert "[rank 1]" in log and "[rank 0]" in log, log[-3000:]
    assert_same_outputs(work, reference_run)
