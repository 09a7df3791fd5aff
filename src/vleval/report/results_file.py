"""One results file per work dir, ``<work-dir>/results.json`` (lmms-eval's ``results.json`` habit):
every model x benchmark x metric with its interval, the settings, the judge, the protocol and the
versions, in one documented, versioned schema (docs/results.md, ``RESULTS_SCHEMA``). Optional exports
for other tools: per-sample Parquet (pyarrow) and inspect_ai eval logs (``vleval.report.inspect_log``).

Everything here is read from what scoring and the run already wrote (``<stem>_score.json``,
``<stem>_rows.jsonl``, ``run.json``) through their readers; nothing is recomputed, so the numbers are
the ones every other output shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vleval.atomic import atomic_write
from vleval.datasets.results import plain, read_rows, rows_path
from vleval.errors import DataMissingError, VlevalError
from vleval.report.format import caveat
from vleval.types import Interval, ManifestBenchmark, RunManifest, ScoreRecord
from vleval.workdir import model_dirs, read_manifest, scored_files

RESULTS_FILE = "results.json"
RESULTS_SCHEMA = 1
# the run.json sections copied into each model's entry as they are
_RUN_SECTIONS = (
    "protocol", "model", "settings", "backend", "versions", "world_size", "started", "finished",
    "written_by",  # "eval" for a record `vleval eval` wrote (no `vleval run` in that folder)
)  # fmt: skip


@dataclass
class ScoredCell:
    """One model x benchmark of a work dir that vleval scored: its files and its record."""

    model: str
    benchmark: str
    pred_file: Path
    score_file: Path
    record: ScoreRecord
    run: RunManifest | None  # the model's run.json (None when the folder has none)

    @property
    def rows_file(self) -> Path:
        return rows_path(self.pred_file.with_suffix(""))


def scored_cells(work_dir: Path) -> Iterator[ScoredCell]:
    """Every scored model x benchmark under ``work_dir``, models and benchmarks in name order
    (predictions not scored yet, or scored by VLMEvalKit only, are left out)."""
    for model_dir in model_dirs(Path(work_dir)):
        run = read_manifest(model_dir)
        for found in scored_files(model_dir):
            yield ScoredCell(found.model, found.card.name, found.pred_file, found.score_file, found.record(), run)


def _interval(found: Interval | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"low": found.low, "high": found.high, "level": found.level, "method": found.method}


def benchmark_entry(cell: ScoredCell, work_dir: Path) -> dict[str, Any]:
    """One benchmark of one model in ``results.json`` (schema: docs/results.md)."""
    record = cell.record
    metrics = {
        name: {"value": value, "interval": _interval(record.intervals.get(name))}
        for name, value in record.metrics.items()
    }
    run = cell.run or RunManifest()
    recorded = run.benchmark(cell.benchmark) or ManifestBenchmark()
    return {
        "headline": {
            "name": record.headline_name,
            "value": record.headline,
            "unit": record.headline_unit,
            "interval": _interval(record.intervals.get("headline")),
            "exact_interval": _interval(record.intervals.get("headline:exact")),
            "bounds": list(record.bounds) if record.bounds is not None else None,
        },
        "metrics": metrics,
        "native": record.native,
        "protocol": record.protocol,
        "judge": plain(record.judge),
        "complete": record.complete,
        "caveat": caveat(record),  # '' for a full, complete score by the protocol's judge
        "subset": plain(record.subset),
        "counts": plain(record.counts),
        "seed": record.seed,
        "settings": run.options_for(cell.benchmark),
        "samples": recorded.samples,
        "benchmark_file_md5": recorded.tsv_md5 or recorded.expected_md5,
        # run.json's word on who made the predictions and who scored them (null: not recorded)
        "predictions_by": recorded.predictions_by,
        "scored_by": recorded.scored_by,
        "files": {
            "predictions": _relative(cell.pred_file, work_dir),
            "score": _relative(cell.score_file, work_dir),
            "rows": _relative(cell.rows_file, work_dir) if cell.rows_file.is_file() else None,
        },
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _run_sections(run: RunManifest | None) -> dict[str, Any]:
    """The run record's sections that ``results.json`` copies as they are (none for a folder without
    run.json)."""
    if run is None:
        return {}
    recorded = plain(run)
    return {k: recorded[k] for k in _RUN_SECTIONS}


def build_results(work_dir: Path) -> dict[str, Any]:
    """``results.json``'s content for ``work_dir``."""
    from vleval.runner.manifest import versions

    work_dir = Path(work_dir)
    models: dict[str, Any] = {}
    for cell in scored_cells(work_dir):
        entry = models.setdefault(
            cell.model,
            {"run": _run_sections(cell.run), "benchmarks": {}},
        )
        entry["benchmarks"][cell.benchmark] = benchmark_entry(cell, work_dir)
    return {
        "schema": "vleval-results",
        "schema_version": RESULTS_SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "written_by": versions(),
        "models": models,
    }


def write_results(work_dir: Path) -> Path | None:
    """Write ``<work_dir>/results.json`` from what is on disk; None (nothing written) when nothing
    under ``work_dir`` is scored yet."""
    results = build_results(work_dir)
    if not results["models"]:
        return None
    text = json.dumps(plain(results), indent=2, ensure_ascii=False) + "\n"
    return atomic_write(Path(work_dir) / RESULTS_FILE, text)


def read_results(path: Path) -> dict[str, Any]:
    """A ``results.json``, checked to be one this vleval reads."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataMissingError(f"{path}: no such file; `vleval report` or `vleval run` writes it.") from None
    except (OSError, ValueError) as exc:
        raise VlevalError(f"{path}: not a vleval results file ({type(exc).__name__}).") from None
    if not isinstance(data, dict) or data.get("schema") != "vleval-results":
        raise VlevalError(f'{path}: not a vleval results file (no "schema": "vleval-results").')
    if data.get("schema_version") != RESULTS_SCHEMA:
        raise VlevalError(
            f"{path}: results schema {data.get('schema_version')!r}; this vleval reads {RESULTS_SCHEMA}. "
            "Run `vleval report --work-dir DIR` to write it again."
        )
    return data


# --------------------------------------------------------------------------------------------------
# per-sample Parquet
# --------------------------------------------------------------------------------------------------
SAMPLE_COLUMNS = (
    "model", "benchmark", "protocol", "judge", "index", "unit", "score", "decided_by", "extracted", "answer",
    "prediction", "hit_token_limit", "category",
)  # fmt: skip


def sample_records(work_dir: Path) -> Iterator[dict[str, Any]]:
    """One flat record per scored row (``_rows.jsonl``) of every model x benchmark; values that are
    not numbers are text (a column of one type, as Parquet wants)."""
    for cell in scored_cells(work_dir):
        if not cell.rows_file.is_file():
            continue
        judge = cell.record.judge.model if cell.record.judge is not None else None
        for row in read_rows(cell.rows_file):
            yield {
                "model": cell.model,
                "benchmark": cell.benchmark,
                "protocol": cell.record.protocol,
                "judge": judge,
                "index": str(row.index),
                "unit": row.unit,
                "score": None if row.score is None else float(row.score),
                "decided_by": row.decided_by,
                "extracted": None if row.extracted is None else str(row.extracted),
                "answer": None if row.answer is None else str(row.answer),
                "prediction": row.prediction,
                "hit_token_limit": bool(row.hit_token_limit),
                "category": row.category,
            }


def export_parquet(work_dir: Path, path: Path) -> Path:
    """Every scored row of ``work_dir`` as one Parquet table (``SAMPLE_COLUMNS``); needs pyarrow
    (``pip install 'vleval[export]'``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise VlevalError(
            "--parquet needs pyarrow: pip install 'vleval[export]' (or pip install pyarrow)"
        ) from None
    records = list(sample_records(work_dir))
    schema = pa.schema(
        [
            (
                name,
                pa.float64() if name == "score" else pa.bool_() if name == "hit_token_limit" else pa.string(),
            )
            for name in SAMPLE_COLUMNS
        ]
    )
    table = pa.Table.from_pylist(records, schema=schema)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    pq.write_table(table, partial)
    partial.replace(path)  # a kill never leaves half a file under the final name
    return path
