"""Reading and writing the result contract (``RowResult`` lines and the ``ScoreRecord``), the only
code that touches ``<stem>_rows.jsonl`` and vleval's ``<stem>_score.json``. Every stage after scoring
(report, statistics, compare, protocol diff, judge audit) reads through here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vleval.atomic import atomic_write
from vleval.errors import DataCorruptError
from vleval.types import RESULT_SCHEMA, DecisionCounts, Interval, JudgeInfo, RowResult, ScoreRecord

ROWS_SUFFIX = "_rows.jsonl"


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf to None, tuples to lists, dataclasses to dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_rows(path: Path, rows: list[RowResult]) -> Path:
    text = "".join(json.dumps(plain(row), ensure_ascii=False) + "\n" for row in rows)
    return atomic_write(Path(path), text)


def read_rows(path: Path) -> list[RowResult]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                _check_schema(data, path)
                rows.append(RowResult(**data))
            except (json.JSONDecodeError, TypeError) as exc:
                raise DataCorruptError(
                    f"{path}: line {number} is not a vleval row result ({exc}); re-score with `vleval eval`."
                ) from None
    return rows


def write_score(path: Path, record: ScoreRecord) -> Path:
    return atomic_write(Path(path), json.dumps(plain(record), indent=4, ensure_ascii=False) + "\n")


def read_score(path: Path) -> ScoreRecord:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        _check_schema(data, path)
        data["counts"] = DecisionCounts(**data.get("counts") or {})
        if data.get("judge") is not None:
            data["judge"] = JudgeInfo(**data["judge"])
        data["intervals"] = {k: Interval(**v) for k, v in (data.get("intervals") or {}).items()}
        if data.get("bounds") is not None:
            data["bounds"] = tuple(data["bounds"])
        return ScoreRecord(**data)
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise DataCorruptError(
            f"{path}: not a vleval score record ({exc}); re-score with `vleval eval`."
        ) from None


def _check_schema(data: Any, path: Path) -> None:
    if not isinstance(data, dict):
        raise TypeError("not an object")
    version = data.get("schema")
    if version != RESULT_SCHEMA:
        raise DataCorruptError(
            f"{path}: result schema {version!r}, this vleval reads schema {RESULT_SCHEMA}; "
            f"re-score with `vleval eval` (predictions are kept)."
        )
