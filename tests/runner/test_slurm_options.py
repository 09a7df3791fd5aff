"""`vleval slurm` as clusters are used: time limit, account, QoS, any sbatch option, and a preflight on
the login node before anything is submitted."""

from __future__ import annotations

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
