"""`vleval slurm --submit` on a real two-node Slurm cluster (.ci/services.d/slurm.sh starts one on this
machine: one slurmd per node, each in its own UTS namespace, so `hostname` names the node).

CPU stands in for GPUs: `--gpus 0 --ntasks 4 --ntasks-per-node 2` is the layout `--gpus 4
--gpus-per-node 2` gives a 1-GPU model (two tasks on each of two nodes).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_support import (
    MODEL_NAME,
    assert_same_outputs,
    free_port,
    run_args,
    run_subprocess,
    subprocess_env,
    vleval_command,
)
from slurm_support import (
    inferred_samples,
    job_state,
    rank_lines,
    submitted_job_id,
    task_pid,
    two_nodes,
    wait_until_gone,
)

pytestmark = pytest.mark.slurm
N_SAMPLES = 6 + 4  # runner_support.DATASETS


def _awkward(tmp_path: Path, name: str) -> Path:
    """A folder whose name a shell would act on if it were pasted unquoted into the job script."""
    folder = tmp_path / f"{name} $(touch PWNED) `touch PWNED`; touch PWNED 'q' 100%"
    folder.mkdir(parents=True)
    return folder


def _submit(work: Path, logs: Path, tiny_model: Path, bench_dir: Path, *extra: str) -> str:
    command = [
        *vleval_command(), "slurm", "--gpus", "0", "--ntasks", "4", "--ntasks-per-node", "2",
        "--log-dir", str(logs), "--submit", *run_args(tiny_model, bench_dir, work), "--verbose", *extra,
    ]  # fmt: skip
    proc = run_subprocess(command, 120, MASTER_PORT=str(free_port()))
    assert proc.returncode == 0, proc.stderr
    assert "--async" not in proc.stdout and "quotatype" not in proc.stdout
    assert "#SBATCH --nodes=2" in proc.stdout and "#SBATCH --ntasks-per-node=2" in proc.stdout
    return submitted_job_id(proc.stdout)


def _log(logs: Path) -> str:
    return (logs / MODEL_NAME / "evaluation.log").read_text()


def _run_json(work: Path) -> dict:
    return json.loads((work / MODEL_NAME / "run.json").read_text())


def test_two_nodes_two_tasks_each_reproduce_the_single_process_run(
    reference_run, tiny_model, bench_dir, tmp_path
):
    first, second = two_nodes()
    work, logs = _awkward(tmp_path, "work"), _awkward(tmp_path, "logs")
    job_id = _submit(work, logs, tiny_model, bench_dir)
    state = wait_until_gone(job_id)
    log = _log(logs)
    assert state == "COMPLETED", log[-3000:]

    ranks = rank_lines(log)
    assert sorted(ranks) == [0, 1, 2, 3], log[-3000:]
    assert [ranks[r].host for r in range(4)] == [first, first, second, second]
    assert [ranks[r].local_rank for r in range(4)] == [0, 1, 0, 1]
    # MASTER_ADDR is the first node of the job, where rank 0 runs; one port for all
    assert {(r.master_addr, r.master_port) for r in ranks.values()} == {(first, ranks[0].master_port)}

    samples = inferred_samples(log, MODEL_NAME)
    assert len(samples) == N_SAMPLES == len({(data, index) for _, data, index in samples})  # each once
    by_node = {ranks[rank].host for rank, _, _ in samples}
    assert by_node == {first, second}, "both nodes must have inferred"
    assert log.count("outputs: ") == 1  # rank 0 merged and scored once
    assert_same_outputs(work, reference_run)
    run = _run_json(work)
    assert run["world_size"] == 4 and run["datasets"]["MMStar"]["inferred_this_run"] == 6
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def _wait_for_record(progress: Path, rank: int, job_id: str, limit_s: float = 600.0) -> None:
    """Until ``rank`` has stored a record; fails at once when the job ended first."""
    deadline = time.monotonic() + limit_s
    for tick in range(10**9):
        if any(p.stat().st_size for p in progress.rglob(f"*.rank{rank}.jsonl")):
            return
        if tick % 20 == 19 and job_state(job_id) not in ("PENDING", "CONFIGURING", "RUNNING"):
            raise AssertionError(f"job {job_id} ended before rank {rank} stored anything")
        assert time.monotonic() < deadline, f"rank {rank} stored nothing in {limit_s:.0f} s"
        time.sleep(0.05)


def test_task_killed_on_one_node_then_resubmitted_loses_nothing_and_infers_nothing_twice(
    reference_run, tiny_model, bench_dir, tmp_path
):
    two_nodes()
    work, logs = tmp_path / "work", tmp_path / "logs"
    progress = work / MODEL_NAME / ".progress"
    job_id = _submit(work, logs, tiny_model, bench_dir, "--batch-size", "1")

    # SIGKILL rank 2 (second node) once it has stored a record; srun --kill-on-bad-exit ends the rest
    _wait_for_record(progress, 2, job_id)
    pid = task_pid(job_id, 2)
    assert pid is not None, f"rank 2 of job {job_id} already gone: {job_state(job_id)}"
    os.kill(pid, signal.SIGKILL)
    state = wait_until_gone(job_id)
    first_log = _log(logs)
    assert state == "FAILED", first_log[-3000:]
    assert "outputs: " not in first_log, "the job finished before the kill: nothing was tested"
    before = {(data, index) for _, data, index in inferred_samples(first_log, MODEL_NAME)}
    assert before, "no sample was stored before the kill"

    job_id = _submit(work, logs, tiny_model, bench_dir, "--batch-size", "1")
    state = wait_until_gone(job_id)
    second_log = _log(logs)
    assert state == "COMPLETED", second_log[-3000:]
    after = [(data, index) for _, data, index in inferred_samples(second_log, MODEL_NAME)]
    assert len(after) == len(set(after)) and not before & set(after), "a stored sample was inferred again"
    assert_same_outputs(work, reference_run)
    run = _run_json(work)["datasets"]
    assert sum(run[d]["inferred_this_run"] + run[d]["reused"] for d in run) == N_SAMPLES
    assert sum(run[d]["reused"] for d in run) >= len(before)


def _wrapper(tmp_path: Path, name: str, node_action: str, node: str) -> Path:
    """An interpreter for the job's tasks: on ``node`` it first does ``node_action`` (bash), as a
    node whose files or process differ from the others would; elsewhere it is this Python."""
    script = tmp_path / name
    script.write_text(
        "#!/bin/bash\n"
        f"python={shlex.quote(sys.executable)}\n"
        f'if [ "$SLURMD_NODENAME" = {node} ]; then {node_action}; fi\n'
        'exec "$python" "$@"\n'
    )
    script.chmod(0o755)
    return script


def _cpu_job(
    tmp_path: Path, name: str, tiny_model: Path, bench_dir: Path, python: Path, timeout: int, *srun_args: str
):
    from vleval.runner.slurm import SlurmJob, plan_layout

    layout = plan_layout(
        partition=None, gpus=0, gpus_per_node=0, gpus_per_task=1, cpu_tasks=2, cpu_tasks_per_node=1
    )
    args = run_args(tiny_model, bench_dir, tmp_path / name / "work", "--dist-timeout", str(timeout))
    return SlurmJob(
        model=MODEL_NAME,
        layout=layout,
        run_args=tuple(args),
        log_dir=tmp_path / name / "logs",
        workdir=tmp_path,
        python=str(python),
        srun_args=tuple(srun_args),
    )


def test_tasks_that_cannot_agree_stop_with_one_line_instead_of_hanging(
    tiny_model, bench_dir, tmp_path, monkeypatch
):
    from vleval.runner.slurm import submit
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    first, second = two_nodes()
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root for a private mount namespace (unshare -m)")
    other = make_tiny_checkpoint(tmp_path / "other" / MODEL_NAME, "qwen2", seed=1)
    for key, value in subprocess_env(MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("SLURM_") or k in ("MASTER_ADDR", "RANK")]:
        monkeypatch.delenv(key)

    # the second node holds another checkpoint under the same path (bind mount in its own namespace)
    swap = (
        'exec unshare -m /bin/bash -c \'mount --bind "$1" "$2" && shift 2 && exec "$0" "$@"\' '
        f'"$python" {shlex.quote(str(other))} {shlex.quote(str(tiny_model))} "$@"'
    )
    # a generous timeout: both tasks arrive, and stop right after the rendezvous
    mismatch = _cpu_job(
        tmp_path, "mismatch", tiny_model, bench_dir, _wrapper(tmp_path, "swap.sh", swap, second), 300
    )
    # the second node's task dies before the rendezvous; srun leaves the other one running
    dead = _cpu_job(
        tmp_path, "dead", tiny_model, bench_dir,
        _wrapper(tmp_path, "die.sh", "kill -KILL $$", second), 8, "--kill-on-bad-exit=0",
    )  # fmt: skip
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    jobs = {"mismatch": submit(mismatch)}
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    jobs["dead"] = submit(dead)
    states = {name: wait_until_gone(job_id) for name, job_id in jobs.items()}

    log = mismatch.log_file.read_text()
    assert states["mismatch"] == "FAILED", log[-3000:]
    errors = [line for line in log.splitlines() if line.startswith("vleval: error:")]
    assert errors and "do not agree on the checkpoint of TinyVL-Qwen2" in errors[0], log[-3000:]
    assert f"rank 0 on {first}" in errors[0] and f"rank 1 on {second}" in errors[0]
    assert "Traceback" not in log
    assert not (tmp_path / "mismatch" / "work" / MODEL_NAME / ".progress").exists()  # nothing inferred

    log = dead.log_file.read_text()
    assert states["dead"] == "FAILED", log[-3000:]
    errors = [line for line in log.splitlines() if line.startswith("vleval: error:")]
    assert len(errors) == 1, log[-3000:]
    assert "only 1 of 2 tasks reached the rendezvous" in errors[0] and "rank(s) 1 never arrived" in errors[0]
    assert f"at {first}:" in errors[0] and "within 8 s (--dist-timeout)" in errors[0]
    assert "Traceback" not in log
