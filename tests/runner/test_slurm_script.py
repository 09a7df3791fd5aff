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
