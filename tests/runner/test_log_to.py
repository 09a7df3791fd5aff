"""`vleval run --log-to mlflow`: the run logs itself once its results are written."""

from __future__ import annotations

import pytest
from runner_support import MODEL_NAME
from test_run import FakeBackend, _config

from vleval.runner.run import run_evaluation


def test_a_run_logs_its_scores_and_report_to_mlflow(tiny_model, bench_dir, tmp_path, monkeypatch, capsys):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    config = _config(tiny_model, bench_dir, tmp_path / "work", datasets=["MMStar"], log_to="mlflow",
                     backend_factory=lambda p, k: FakeBackend())  # fmt: skip
    summary = run_evaluation(config)
    assert "logged to mlflow run" in capsys.readouterr().err
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    headline = summary.cell(MODEL_NAME, "MMStar").record.headline
    assert run.info.run_name == MODEL_NAME
    assert run.data.metrics["MMStar/Overall accuracy"] == pytest.approx(headline)
    assert run.data.params["log_to"] == "mlflow"
    assert {"results.json", "run.json", "report.html"} <= {
        a.path for a in client.list_artifacts(run.info.run_id)
    }
