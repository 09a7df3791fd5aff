"""--log-to mlflow|wandb, offline: MLflow's local file store and W&B's offline mode, read back with
their own readers. Skipped where the optional package is not installed."""

from __future__ import annotations

import json

import pytest

from vleval.cli import main
from vleval.report.results_file import read_results
from vleval.report.trackers import metrics_of

MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def _expected(work_dir):
    main(["export", "--work-dir", str(work_dir)])
    return metrics_of(read_results(work_dir / "results.json")["models"][MODEL]["benchmarks"])


def test_metrics_carry_their_intervals(work_dirs):
    metrics = _expected(work_dirs[0])
    assert metrics["MMStar/Overall accuracy"] == pytest.approx(75.0)
    assert metrics["MMStar/Overall accuracy.ci_low"] <= 75.0 <= metrics["MMStar/Overall accuracy.ci_high"]


def test_mlflow_local_file_store(work_dirs, tmp_path, monkeypatch, capsys):
    mlflow = pytest.importorskip("mlflow")
    direct, _ = work_dirs
    expected = _expected(direct)
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "vleval-test")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3: the local folder store on request
    assert main(["report", "--work-dir", str(direct)]) == 0
    assert main(["export", "--work-dir", str(direct), "--log-to", "mlflow"]) == 0
    assert "logged to mlflow run" in capsys.readouterr().out
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("vleval-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == MODEL
    assert run.data.metrics == pytest.approx(expected)
    assert run.data.params["cot"] == "false" and run.data.params["protocol"] == "2024.12"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.json", "run.json", "report.html", "summary.csv"} <= artifacts


def test_wandb_offline_mode(work_dirs, tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    direct, _ = work_dirs
    expected = _expected(direct)
    for key, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                       "WANDB_PROJECT": "vleval-test"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert main(["export", "--work-dir", str(direct), "--log-to", "wandb"]) == 0
    assert "logged to wandb run" in capsys.readouterr().out
    (record_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    # W&B 0.31 keeps an offline run only in its record file (protobuf records; its Python reader is
    # gone): every metric name and value, the settings and the artifact's files are in it, for `wandb sync`
    data = record_file.read_bytes()
    for key, value in expected.items():
        assert key.encode() in data and json.dumps(value).encode() in data, key
    assert b"2024.12" in data and b"results.json" in data


def test_a_missing_tracker_package_stops_the_run_before_it_starts(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    rc = main(["run", "--model", "InternVL2_5-1B", "--data", "MMStar", "--log-to", "wandb",
               "--work-dir", str(tmp_path / "w")])  # fmt: skip
    assert rc == 2 and "pip install 'vleval[wandb]'" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
