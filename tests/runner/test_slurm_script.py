"""`vleval slurm`: job layout as the source document's launch script, stock-Slurm options only."""

from __future__ import annotations

import pytest

from vleval.cli import main
from vleval.errors import VlevalError
from vleval.runner.slurm import plan_layout


def test_layout_for_small_and_large_models():
    small = plan_layout(partition="P", gpus=64, gpus_per_node=8, gpus_per_task=1)
    assert (small.ntasks, small.ntasks_per_node, small.nodes) == (64, 8, 8)
    large = plan_layout(partition="P", gpus=64, gpus_per_node=8, gpus_per_task=8)
    assert (large.ntasks, large.ntasks_per_node, large.nodes) == (8, 1, 8)
    cpu = plan_layout(partition=None, gpus=0, gpus_per_node=8, gpus_per_task=1, cpu_tasks=2)
    assert (cpu.ntasks, cpu.ntasks_per_node, cpu.gpus) == (2, 2, 0)


def test_layout_refuses_gpus_that_do_not_divide():
    with pytest.raises(VlevalError, match="do not divide"):
        plan_layout(partition="P", gpus=12, gpus_per_node=8, gpus_per_task=8)


def test_printed_scripts_follow_the_source_document(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(
        [
            "slurm",
            "--partition",
            "Intern5",
            "--gpus",
            "64",
            "--gpus-per-node",
            "8",
            "--model",
            "InternVL2-5-8B",
            "InternVL2_5-78B-MPO",
            "--data",
            "MMStar",
            "OCRBench",
            "--cot",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    small, large = out.split("# ---- ")[1:3]
    assert "#SBATCH --ntasks=64" in small and "#SBATCH --ntasks-per-node=8" in small
    assert "#SBATCH --gres=gpu:8" in small and "export GPUS_PER_TASK=1" in small
    assert "#SBATCH --ntasks=8" in large and "#SBATCH --ntasks-per-node=1" in large
    assert "export GPUS_PER_TASK=8" in large
    assert f"{tmp_path}/logs_eval/InternVL2_5-8B/evaluation.log" in small
    assert "-m vleval run --model InternVL2-5-8B --data MMStar OCRBench --cot" in small
    assert "--partition=Intern5" in small
    # customised-Slurm options only when asked
    assert "--async" not in out and "quotatype" not in out
    assert "not submitted" in out
    assert not (tmp_path / "logs_eval").exists()


@pytest.mark.parametrize(
    "model, per_task",
    [("InternVL3_5-1B", 1), ("InternVL3_5-GPT-OSS-20B-A4B-Preview", 1), ("InternVL3-78B", 8),
     ("InternVL3_5-241B-A28B", 8), ("InternVL3_5-241B-A28B-HF", 8)],
)  # fmt: skip
def test_internvl3_cards_get_their_gpus_per_task(model, per_task, tmp_path, capsys, monkeypatch):
    """The InternVL3/3.5 cards lay out as the 2.5 ones: a task per GPU for small models, eight GPUs per
    task (one per node) for the large ones, -HF twins as their originals."""
    from vleval.models.registry import get_model

    monkeypatch.chdir(tmp_path)
    assert get_model(model).gpus_per_task == per_task
    rc = main(["slurm", "--partition", "P", "--gpus", "16", "--gpus-per-node", "8", "--model", model,
               "--data", "MMStar"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert f"export GPUS_PER_TASK={per_task}" in out
    assert f"#SBATCH --ntasks={16 // per_task}" in out
    assert f"-m vleval run --model {model} --data MMStar" in out


def test_cluster_specific_options_only_when_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(
        [
            "slurm",
            "--partition",
            "P",
            "--gpus",
            "8",
            "--model",
            "InternVL2_5-1B",
            "--data",
            "MMStar",
            "--quota-type",
            "reserved",
            "--srun-args",
            "--exclusive --mem=0",
        ]
    )
    out = capsys.readouterr().out
    assert "#SBATCH --quotatype=reserved" in out
    assert "--quotatype=reserved --exclusive --mem=0" in out


def test_cpu_job_has_no_gres(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["slurm", "--gpus", "0", "--ntasks", "2", "--model", "InternVL2_5-1B", "--data", "MMStar"])
    out = capsys.readouterr().out
    assert "--gres" not in out and "GPUS_PER_TASK" not in out and "#SBATCH --ntasks=2" in out


def test_unknown_model_is_refused_before_any_job(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["slurm", "--model", "InternVL9-1B", "--data", "MMStar", "--submit"])
    assert rc == 2
    assert "InternVL9-1B" in capsys.readouterr().err


def test_cpu_job_over_several_nodes():
    layout = plan_layout(
        partition=None, gpus=0, gpus_per_node=0, gpus_per_task=1, cpu_tasks=4, cpu_tasks_per_node=2
    )
    assert (layout.ntasks, layout.ntasks_per_node, layout.nodes) == (4, 2, 2)
    with pytest.raises(VlevalError, match="is for CPU jobs"):
        plan_layout(partition=None, gpus=8, gpus_per_node=8, gpus_per_task=1, cpu_tasks_per_node=2)
    with pytest.raises(VlevalError, match="does not divide"):
        plan_layout(
            partition=None, gpus=0, gpus_per_node=0, gpus_per_task=1, cpu_tasks=3, cpu_tasks_per_node=2
        )


ODD = "x $(touch PWNED) `touch PWNED`; touch PWNED 'q' 100% & | > < *"


def _sbatch_directives(script: str) -> dict[str, str]:
    """``#SBATCH --key=value`` lines read as sbatch reads them: ``"`` toggles quoting, nothing else is
    special (Slurm src/sbatch/opt.c, _get_argument); the real sbatch reads them in test_slurm_cluster."""
    found = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line[len("#SBATCH --") :].partition("=")
            found[key] = value.replace('"', "")
    return found


def test_every_user_value_reaches_the_script_quoted(tmp_path, capsys, monkeypatch):
    import json
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    ckpt, data, logs = tmp_path / f"ckpt {ODD}", tmp_path / f'data "{ODD}"', tmp_path / f"logs {ODD}"
    ckpt.mkdir()
    rc = main(
        [
            "slurm", "--gpus", "0", "--ntasks", "2", "--model", str(ckpt), "--data", "MMStar",
            "--data-dir", str(data), "--log-dir", str(logs), "--job-name", f"job {ODD}",
            "--srun-args", "--label --comment 'a b;c'",
        ]
    )  # fmt: skip
    assert rc == 0
    script = capsys.readouterr().out.split("\n", 1)[1].split("# not submitted")[0]
    directives = _sbatch_directives(script)
    assert directives["job-name"] == f"job {ODD}"
    assert directives["output"] == str(logs / ckpt.name / "evaluation.log").replace("%", "%%")
    assert directives["chdir"] == str(tmp_path)

    # run the script with bash, srun replaced by a program that records the arguments it was given
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "open(os.environ['ARGV_OUT'], 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    (bin_dir / "srun").chmod(0o755)
    (tmp_path / "job.sh").write_text(script)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "ARGV_OUT": str(tmp_path / "argv.json")}
    proc = subprocess.run(["bash", "job.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--model") + 1] == str(ckpt.resolve())
    assert argv[argv.index("--data-dir") + 1] == str(data)
    assert argv[argv.index("--comment") + 1] == "a b;c"
    assert argv[argv.index("-m") - 2 : argv.index("-m") + 3] == [sys.executable, "-u", "-m", "vleval", "run"]
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("where", ["model folder", "--data-dir", "--log-dir", "--work-dir", "--job-name"])
def test_control_characters_are_refused_before_anything_is_written(where, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = "a\ntouch PWNED\r\x1b[2J"
    ckpt = tmp_path / (evil if where == "model folder" else "ckpt")
    ckpt.mkdir()
    options = {"--data-dir": str(tmp_path / evil), "--log-dir": str(tmp_path / evil),
               "--work-dir": str(tmp_path / evil), "--job-name": evil}  # fmt: skip
    extra = [where, options[where]] if where in options else []
    rc = main(["slurm", "--gpus", "0", "--model", str(ckpt), "--data", "MMStar", "--submit", *extra])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""  # no script printed, nothing submitted
    error = captured.err.strip()
    assert len(error.splitlines()) == 1 and "control characters" in error, error
    assert not (tmp_path / "logs_eval").exists() and not list(tmp_path.rglob("PWNED"))
