"""``--log-to mlflow|wandb``: a finished run's settings, scores with their intervals and its report,
recorded in an experiment tracker (optional extras: ``pip install 'vleval[mlflow]'`` or
``'vleval[wandb]'``; never needed for anything else).

One tracker run per model of the work dir. What is logged comes from the work dir's ``results.json``
(``vleval.report.results_file``), so the tracker shows the numbers every other output shows:

- parameters / config: the model's options as ``run.json`` records them (URLs without credentials;
  no key is ever among them), plus ``protocol`` and ``vleval_version``;
- metrics: ``<benchmark>/<metric>`` for the headline and every reported metric, and
  ``<benchmark>/<metric>.ci_low`` and ``.ci_high`` for its 95% interval where it has one;
- artifacts: ``results.json``, the model's ``run.json`` and the HTML report with its summaries.

Where the runs go is the tracker's own configuration: ``MLFLOW_TRACKING_URI`` (a server, a database
such as ``sqlite:///mlflow.db``, or a local folder ``file:./mlruns``, which MLflow 3 accepts with
``MLFLOW_ALLOW_FILE_STORE=true``) and ``MLFLOW_EXPERIMENT_NAME``; ``WANDB_PROJECT``, ``WANDB_MODE``
(``offline`` writes under ``WANDB_DIR`` and uploads nothing) and W&B's own login.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError

TRACKERS: tuple[str, ...] = ("mlflow", "wandb")
_PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}


def require_tracker(name: str | None) -> None:
    """Refuse a tracker whose package is not installed, before the run starts."""
    if name is None:
        return
    if name not in TRACKERS:
        raise VlevalError(f"--log-to {name!r}: use one of {', '.join(TRACKERS)}")
    import importlib.util

    if importlib.util.find_spec(_PACKAGES[name]) is None:
        raise VlevalError(
            f"--log-to {name} needs the {name} package: pip install 'vleval[{name}]' (or pip install {name})."
        )


def metrics_of(benchmarks: dict[str, Any]) -> dict[str, float]:
    """``results.json`` benchmark entries as flat tracker metrics (numbers only)."""
    out: dict[str, float] = {}
    for benchmark, entry in benchmarks.items():
        named = [(entry["headline"]["name"] or "headline", entry["headline"])]
        named += list(entry.get("metrics", {}).items())
        for metric, value in named:
            if value.get("value") is None:
                continue
            key = f"{benchmark}/{_key(metric)}"
            out[key] = float(value["value"])
            interval = value.get("interval")
            if interval:
                out[f"{key}.ci_low"] = float(interval["low"])
                out[f"{key}.ci_high"] = float(interval["high"])
    return out


def _key(name: str) -> str:
    """A metric name trackers accept (letters, digits, _ - . / and space)."""
    return "".join(c if c.isalnum() or c in "_-. " else "_" for c in name).strip() or "metric"


def _models(work_dir: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    from vleval.report.results_file import RESULTS_FILE, read_results

    results = read_results(work_dir / RESULTS_FILE)
    for model, entry in results["models"].items():
        run = entry.get("run") or {}
        params = {str(k): v for k, v in (run.get("settings") or {}).items()}
        params["protocol"] = (run.get("protocol") or {}).get("name")
        params["vleval_version"] = results["written_by"].get("vleval")
        yield model, params, metrics_of(entry["benchmarks"])


def _artifacts(work_dir: Path, model: str) -> list[Path]:
    from vleval.report.results_file import RESULTS_FILE
    from vleval.workdir import manifest_path

    files = [work_dir / RESULTS_FILE, manifest_path(work_dir / model)]
    files += [work_dir / name for name in ("report.html", "summary.md", "summary.csv")]
    return [f for f in files if f.is_file()]


def log_work_dir(work_dir: Path, tracker: str) -> list[str]:
    """Log every model of ``work_dir`` (its ``results.json`` must exist) to ``tracker``; returns one
    line per tracker run saying where it went."""
    require_tracker(tracker)
    work_dir = Path(work_dir)
    logger = _log_mlflow if tracker == "mlflow" else _log_wandb
    models = list(_models(work_dir))
    try:
        return [logger(work_dir, model, params, metrics) for model, params, metrics in models]
    except Exception as exc:  # the tracker's own errors are many; say them in one line
        text = " ".join(str(exc).split())
        raise VlevalError(
            f"--log-to {tracker} failed ({type(exc).__name__}: {text[:400]}); the run's files are written: "
            f"fix the tracker's settings and log them with `vleval export --work-dir {work_dir} --log-to {tracker}`."
        ) from None


def _log_mlflow(work_dir: Path, model: str, params: dict[str, Any], metrics: dict[str, float]) -> str:
    import mlflow

    with mlflow.start_run(run_name=model) as run:
        mlflow.log_params({k: json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()})
        mlflow.log_metrics(metrics)
        for path in _artifacts(work_dir, model):
            mlflow.log_artifact(str(path))
        return f"mlflow run {run.info.run_id} ({mlflow.get_tracking_uri()}): {model}"


def _log_wandb(work_dir: Path, model: str, params: dict[str, Any], metrics: dict[str, float]) -> str:
    import os

    import wandb

    run = wandb.init(project=os.environ.get("WANDB_PROJECT") or "vleval", name=model, config=params,
                     job_type="eval", reinit="finish_previous")  # fmt: skip
    try:
        run.summary.update(metrics)
        artifact = wandb.Artifact(f"vleval-{_key(model).replace(' ', '_').replace('/', '_')}", type="results")
        for path in _artifacts(work_dir, model):
            artifact.add_file(str(path))
        run.log_artifact(artifact)
        where = f"wandb run {run.id} ({run.settings.mode}, {run.dir})"
    finally:
        run.finish()
    return f"{where}: {model}"
