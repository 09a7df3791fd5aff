"""Export a work dir as inspect_ai eval logs (the JSON log format, version 2), so that ``inspect view``
and inspect_ai's ``read_eval_log`` can browse a vleval run: one log per model x benchmark,
named as inspect_ai names its logs (``log_file_name``).

Written with the standard library from what scoring wrote (``results.json``'s entries and each
``_rows.jsonl``): inspect_ai is needed only to read the logs. Mapping:

- ``eval``: task = the benchmark, model = ``vleval/<model>``, dataset size and sample ids, the protocol,
  judge, settings and caveat (``subset of N/M``, ``substitute judge``, ...) in ``metadata``;
- ``results``: one score named after the headline, with the metrics ``headline`` (0-100 scale),
  ``ci_low``/``ci_high`` (its 95% interval, when it has one) and every reported metric;
- ``samples``: one per scored row: ``input`` the question (from the prediction file, when it holds
  one), ``target`` the gold answer, ``output`` the prediction (``stop_reason`` ``max_tokens`` where
  generation hit the token limit), and the score ``vleval``: the row's value (1/0, or the grade;
  "skipped" for a row the protocol did not examine), the extracted answer, and how it was decided.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vleval.atomic import atomic_write
from vleval.datasets.results import plain, read_rows
from vleval.errors import VlevalError
from vleval.report.results_file import ScoredCell, benchmark_entry, scored_cells
from vleval.types import RowResult, RunManifest

INSPECT_LOG_VERSION = 2


def _questions(cell: ScoredCell, rows: list[RowResult]) -> dict[str, str]:
    """index -> question: the rows' own, else (rows written before they carried it) the prediction
    file's."""
    own = {str(r.index): r.question for r in rows if r.question is not None}
    if own:
        return own
    from vleval.datasets.predictions import read_questions

    try:
        return read_questions(cell.pred_file)
    except VlevalError:  # the questions are a convenience: a log without them is still a log
        return {}


def eval_log(cell: ScoredCell, work_dir: Path) -> dict[str, Any]:
    """One inspect_ai eval log (as JSON-ready dicts) for one model x benchmark."""
    entry = benchmark_entry(cell, work_dir)
    rows = read_rows(cell.rows_file) if cell.rows_file.is_file() else []
    questions = _questions(cell, rows)
    headline = entry["headline"]
    metrics: dict[str, Any] = {}
    if headline["value"] is not None:
        metrics["headline"] = {"name": "headline", "value": headline["value"]}
        if headline["interval"]:
            metrics["ci_low"] = {"name": "ci_low", "value": headline["interval"]["low"]}
            metrics["ci_high"] = {"name": "ci_high", "value": headline["interval"]["high"]}
    for name, metric in entry["metrics"].items():
        if metric["value"] is not None:
            metrics.setdefault(name, {"name": name, "value": metric["value"]})
    run = cell.run or RunManifest()
    model = f"vleval/{cell.model}"
    samples = []
    for row in rows:
        index = str(row.index)
        prediction = row.prediction or ""
        samples.append(
            {
                "id": index,
                "epoch": 1,
                "input": questions.get(index, f"{cell.benchmark} #{index}"),
                "target": "" if row.answer is None else str(row.answer),
                "output": {
                    "model": model,
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": prediction, "source": "generate"},
                            "stop_reason": "max_tokens" if row.hit_token_limit else "stop",
                        }
                    ],
                    "completion": prediction,
                },
                "scores": {
                    "vleval": {
                        "value": "skipped" if row.score is None else row.score,
                        "answer": None if row.extracted is None else str(row.extracted),
                        "explanation": f"decided by {row.decided_by}",
                        "metadata": {"unit": row.unit, "category": row.category},
                    }
                },
                "metadata": {"decided_by": row.decided_by, "hit_token_limit": row.hit_token_limit},
            }
        )
    created = run.finished or entry.get("created") or "1970-01-01T00:00:00+00:00"
    return plain(
        {
            "version": INSPECT_LOG_VERSION,
            "status": "success" if entry["complete"] else "error",
            "eval": {
                "created": _iso(created),
                "task": cell.benchmark,
                "task_id": f"vleval-{cell.benchmark}",
                "task_version": 0,
                "dataset": {
                    "name": cell.benchmark,
                    "samples": len(samples),
                    "sample_ids": [s["id"] for s in samples],
                },
                "model": model,
                "config": {},
                "packages": {"vleval": run.versions.get("vleval", "")},
                "metadata": {
                    "protocol": entry["protocol"],
                    "judge": entry["judge"],
                    "settings": entry["settings"],
                    "caveat": entry["caveat"],
                    "subset": entry["subset"],
                },
            },
            "plan": {"name": "vleval", "steps": []},
            "results": {
                "total_samples": len(samples),
                "completed_samples": sum(1 for r in rows if r.score is not None),
                "scores": [
                    {
                        "name": headline["name"] or "headline",
                        "scorer": "vleval",
                        "params": {},
                        "metrics": metrics,
                    }
                ],
            },
            "stats": {"started_at": _iso(run.started or created), "completed_at": _iso(created)},
            "samples": samples,
        }
    )


def _iso(text: str) -> str:
    """run.json's ``%Y-%m-%dT%H:%M:%S%z`` (``+0000``) as ISO 8601 with a colon in the offset."""
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        return f"{text[:-2]}:{text[-2:]}"
    return text


def export_inspect_logs(work_dir: Path, out_dir: Path) -> list[Path]:
    """One inspect_ai JSON eval log per scored model x benchmark of ``work_dir``, into ``out_dir``."""
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in scored_cells(work_dir):
        log = eval_log(cell, work_dir)
        written.append(
            atomic_write(out_dir / log_file_name(log, cell.model), json.dumps(log, ensure_ascii=False) + "\n")
        )
    return written


def log_file_name(log: dict[str, Any], model: str) -> str:
    """inspect_ai lists only JSON logs named ``<ISO timestamp>_<task>_<id>.json`` (``-`` for ``:``,
    ``_`` only as separators): the run's finish time, the benchmark, the model's name and a short
    digest of it (names may hold any character)."""
    import hashlib
    import re

    stamp = log["eval"]["created"].replace(":", "-")
    task = re.sub(r"[^A-Za-z0-9.-]", "-", log["eval"]["task"])
    tag = re.sub(r"[^A-Za-z0-9.-]", "-", model)[:60] + "-" + hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"{stamp}_{task}_{tag}.json"
