"""`vleval slurm` as clusters are used: time limit, account, QoS, any sbatch option, and a preflight on
the login node before anything is submitted."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from vleval.cli import main


def test_time_account_qos_and_sbatch_args_become_sbatch_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["slurm", "--gpus", "8", "--model", "InternVL2_5-1B", "--data", "MMStar", "--time", "2-00:00:00",
               "--account", "proj42", "--qos", "high", "--sbatch-args", "--mem=200G --constraint='h100 80gb' --exclusive"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    for line in ("#SBATCH --time=2-00:00:00", "#SBATCH --account=proj42", "#SBATCH --qos=high",
                 "#SBATCH --mem=200G", '#SBATCH --constraint="h100 80gb"', "#SBATCH --exclusive"):  # fmt: skip
        assert line + "\n" in out, line
    # nothing of it reaches the job's `vleval run`
    (srun,) = [x for x in out.splitlines() if x.startswith("srun ")]
    assert "proj42" not in srun and "200G" not in srun


def test_a_sbatch_arg_that_is_not_an_option_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["slurm", "--model", "InternVL2_5-1B", "--data", "MMStar", "--sbatch-args", "mem=200G"])
    assert rc == 2 and "--sbatch-args: 'mem=200G' is not an sbatch option" in capsys.readouterr().err


def test_submit_is_refused_when_the_login_node_misses_weights_or_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    rc = main(["slurm", "--model", "InternVL2_5-1B", "--data", "MMStar", "--judge", "none", "--submit",
               "--model-dir", str(tmp_path / "pretrained"), "--data-dir", str(tmp_path / "data"),
               "--log-dir", str(tmp_path / "logs")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "nothing submitted" in err and "--skip-preflight" in err
    assert "checkpoint of InternVL2_5-1B not found" in err and "vleval data download MMStar" in err
    assert not (tmp_path / "logs").exists()  # no script written, nothing submitted


def test_array_runs_one_task_per_model_with_its_own_log(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["slurm", "--gpus", "8", "--array", "--model", "InternVL2_5-1B", "InternVL2_5-8B", "--data",
               "MMStar", "--time", "4:00:00", "--log-dir", str(tmp_path / "logs")])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert (
        out.count("#!/bin/bash") == 1 and "#SBATCH --array=0-1\n" in out and "#SBATCH --time=4:00:00" in out
    )
    assert f"#SBATCH --output={tmp_path / 'logs' / 'array'}/task-%a.log" in out
    branches = [line.strip() for line in out.splitlines() if line.strip().startswith("srun ")]
    assert len(branches) == 2
    assert "--model InternVL2_5-1B" in branches[0] and "--model InternVL2_5-8B" in branches[1]


def test_array_of_models_that_need_other_resources_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(
        [
            "slurm",
            "--gpus",
            "8",
            "--array",
            "--model",
            "InternVL2_5-8B",
            "InternVL2_5-78B",
            "--data",
            "MMStar",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--array: InternVL2_5-78B needs 1 task(s) with 8 GPU(s) each" in err
    assert "one job per model" in err


@pytest.mark.slurm
def test_sbatch_accepts_the_array_script(tmp_path, capsys, monkeypatch):
    if shutil.which("sbatch") is None:
        pytest.skip("no sbatch on this machine")
    from vleval.runner.slurm import SlurmArray, SlurmJob, plan_layout

    layout = plan_layout(partition=None, gpus=0, gpus_per_node=0, gpus_per_task=1)
    jobs = tuple(
        SlurmJob(
            model=m,
            layout=layout,
            run_args=("--model", m, "--data", "MMStar"),
            log_dir=tmp_path / "logs",
            workdir=tmp_path,
            time="0:05:00",
        )  # fmt: skip
        for m in ("InternVL2_5-1B", "InternVL2_5-2B")
    )
    array = SlurmArray(jobs)
    array.log_dir.mkdir(parents=True)
    array.script_path.write_text(array.script())
    done = subprocess.run(["sbatch", "--test-only", str(array.script_path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr  # sbatch parsed every #SBATCH line, the array included
