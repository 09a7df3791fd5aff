"""Helpers for the tests on a real Slurm cluster (.ci/services.d/slurm.sh starts a two-node one on this
machine): is the cluster there, wait for a job, read its log, find one task's process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_HINT = "run `bash .ci/services.d/slurm.sh` as root to start a two-node cluster"
_USABLE = {"idle", "mix", "alloc"}
# the line every rank of a distributed run prints after the rendezvous (vleval.runner.dist.ProcessGroup)
RANK_LINE = re.compile(
    r"^vleval: rank (\d+) of (\d+) on (\S+) \(node-local rank (\d+) of (\d+)\), rendezvous at (\S+):(\d+)$",
    re.M,
)


def usable_nodes() -> tuple[list[str], str | None]:
    """(names of the usable nodes, why the cluster cannot be used or None)."""
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return [], f"Slurm client commands are not installed; {START_HINT}"
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return [], f"sinfo did not answer: the Slurm controller is not running; {START_HINT}"
    nodes = [n for n, state in (line.split() for line in out.stdout.splitlines()) if state in _USABLE]
    if out.returncode != 0 or not nodes:
        return [], f"no usable Slurm node (sinfo: {out.stdout.strip() or out.stderr.strip()}); {START_HINT}"
    return sorted(set(nodes)), None


def two_nodes() -> list[str]:
    """The first two usable nodes, or skip the test."""
    import pytest

    nodes, problem = usable_nodes()
    if problem:
        pytest.skip(problem)
    if len(nodes) < 2:
        pytest.skip(f"the Slurm cluster has one usable node ({nodes}); these tests need two: {START_HINT}")
    return nodes[:2]


def job_state(job_id: str) -> str:
    """PENDING/RUNNING/COMPLETED/FAILED/...; finished jobs stay visible for MinJobAge (300 s)."""
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"\bJobState=(\S+)", out)
    return match.group(1) if match else "UNKNOWN"


def wait_until_gone(job_id: str, limit_s: float = 600.0) -> str:
    """Wait until the job left the queue; its final state. ``limit_s`` only guards against a hang."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
        if not out.stdout.strip():
            return job_state(job_id)
        time.sleep(0.5)
    subprocess.run(["scancel", job_id], check=False)
    raise AssertionError(f"Slurm job {job_id} was still in the queue after {limit_s:.0f} s: a hang")


def submitted_job_id(stdout: str) -> str:
    """The job id from `vleval slurm --submit`'s last line: `submitted MODEL: job 12, log ...`."""
    match = re.search(r"submitted .*: job (\d+),", stdout.strip().splitlines()[-1])
    assert match, stdout[-2000:]
    return match.group(1)


@dataclass(frozen=True)
class RankLine:
    rank: int
    world: int
    host: str
    local_rank: int
    local_world: int
    master_addr: str
    master_port: int


def rank_lines(log: str) -> dict[int, RankLine]:
    found: dict[int, RankLine] = {}
    for m in RANK_LINE.finditer(log):
        line = RankLine(int(m[1]), int(m[2]), m[3], int(m[4]), int(m[5]), m[6], int(m[7]))
        assert line.rank not in found, f"rank {line.rank} started twice"
        found[line.rank] = line
    return found


def inferred_samples(log: str, model: str) -> list[tuple[int, str, str]]:
    """(rank, benchmark, index) of every `--verbose` prediction line (printed once the sample's record
    is on disk)."""
    pattern = re.compile(rf"^\[rank (\d+)\] {re.escape(model)} (\S+) (\S+): ", re.M)
    return [(int(m[1]), m[2], m[3]) for m in pattern.finditer(log)]


def task_pid(job_id: str, rank: int) -> int | None:
    """PID of the `vleval run` process of task ``rank`` of the job (all "nodes" share this machine's
    PID space), found by the variables srun gave it."""
    want = {f"SLURM_JOB_ID={job_id}", f"SLURM_PROCID={rank}"}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = set((proc / "environ").read_bytes().decode(errors="replace").split("\0"))
        except OSError:
            continue
        is_srun = cmdline[0].endswith(b"srun")  # the batch step's srun also carries SLURM_PROCID=0
        if want <= environ and not is_srun and b"vleval" in cmdline and b"run" in cmdline:
            return int(proc.name)
    return None
