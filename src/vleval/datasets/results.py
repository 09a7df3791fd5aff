"""Every file scoring writes, and the result contract's reader.

- The reference's result files (xlsx/csv/json, VK ``smp/file.py::dump``: the names and bytes the
  reference writes) through ``write_xlsx``/``write_csv``/``write_json``, the only xlsx writer in vleval
  (prediction files use it too).
- vleval's own files: ``<stem>_score.json`` (a ``ScoreRecord``; ``<stem>_vleval.json`` where the
  reference itself writes ``<stem>_score.json``: OCRBench, CRPE) and ``<stem>_rows.jsonl`` (one
  ``RowResult`` per line). Every stage after scoring (report, statistics, compare, protocol diff,
  judge audit) reads them through ``read_score``/``read_rows``.

Every file is written atomically (``vleval.atomic``): a kill never leaves half a file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vleval.atomic import atomic_write
from vleval.errors import DataCorruptError
from vleval.types import (
    RESULT_SCHEMA,
    DecisionCounts,
    Interval,
    JudgeCalibration,
    JudgeInfo,
    MultimodalGain,
    RotationConsistency,
    RowResult,
    ScoreRecord,
    Subset,
)

if TYPE_CHECKING:
    from vleval.families.base import ReferenceOutput

ROWS_SUFFIX = "_rows.jsonl"
SCORE_SUFFIX = "_score.json"
VLEVAL_SUFFIX = "_vleval.json"  # vleval's record where the reference owns _score.json
XLSX_CELL_LIMIT = 32_767  # characters; xlsxwriter cuts longer strings (Excel's limit)
# xlsxwriter would otherwise turn '=...' strings into formulas and 'http...' into links
_XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


# --------------------------------------------------------------------------------------------------
# the reference's formats
# --------------------------------------------------------------------------------------------------
def xlsx_truncated(frame: pd.DataFrame) -> list[str]:
    """Indices (as text; row numbers when there is no 'index' column) of rows with a text cell longer
    than the xlsx limit: ``write_xlsx`` keeps only its first 32,767 characters."""
    long_rows: set[int] = set()
    for column in frame.columns:
        for position, value in enumerate(frame[column]):
            if isinstance(value, str) and len(value) > XLSX_CELL_LIMIT:
                long_rows.add(position)
    keys = list(frame["index"]) if "index" in frame.columns else list(range(len(frame)))
    return [str(keys[p]) for p in sorted(long_rows)]


def write_xlsx(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as the reference dumps it (pandas + xlsxwriter, no index column). Text cells longer
    than 32,767 characters are cut there (``xlsx_truncated`` names the rows)."""
    buffer = io.BytesIO()
    with (
        warnings.catch_warnings(),
        pd.ExcelWriter(buffer, engine="xlsxwriter", engine_kwargs={"options": _XLSX_OPTIONS}) as writer,
    ):
        # callers say which rows were cut (xlsx_truncated), naming them, instead of this bare warning
        warnings.filterwarnings("ignore", message="Cell contents too long")
        # fixed creation time: the same rows give a byte-identical file (resume tests)
        writer.book.set_properties({"created": datetime(2000, 1, 1, tzinfo=UTC)})
        frame.to_excel(writer, index=False)
    return atomic_write(Path(path), buffer.getvalue())


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    text = frame.to_csv(index=False, quoting=csv.QUOTE_ALL)
    return atomic_write(Path(path), text)


def write_json(obj: Any, path: Path) -> Path:
    """The reference's json dump (indent 4, non-ASCII kept)."""
    return atomic_write(Path(path), json.dumps(plain(obj), indent=4, ensure_ascii=False))


def write_result_files(
    stem: Path, outputs: list[ReferenceOutput], record: ScoreRecord, rows: list[RowResult]
) -> list[Path]:
    """The one writer of scoring's files: the reference's ``outputs`` (``<stem><suffix>``), then
    vleval's ScoreRecord and rows. Rows cut in an xlsx are added to ``record.truncated_in_xlsx``."""
    files = []
    for output in outputs:
        path = stem.parent / f"{stem.name}{output.suffix}"
        if output.keep_existing and path.exists():
            continue
        if isinstance(output.content, pd.DataFrame):
            if path.suffix == ".xlsx":
                cut = xlsx_truncated(output.content)
                record.truncated_in_xlsx += [i for i in cut if i not in record.truncated_in_xlsx]
                write_xlsx(output.content, path)
            else:
                write_csv(output.content, path)
        else:
            write_json(output.content, path)
        files.append(path)
    if record.truncated_in_xlsx:
        record.notes.append(
            f"{len(record.truncated_in_xlsx)} row(s) have text longer than the xlsx cell limit "
            f"({XLSX_CELL_LIMIT} characters), cut in the xlsx files (index "
            f"{', '.join(record.truncated_in_xlsx[:5])}{', ...' if len(record.truncated_in_xlsx) > 5 else ''}); "
            f"{stem.name}{ROWS_SUFFIX} keeps the full text."
        )
    record.reference_files = [p.name for p in files]
    summary = SCORE_SUFFIX if not any(o.suffix == SCORE_SUFFIX for o in outputs) else VLEVAL_SUFFIX
    files.append(write_score(stem.parent / f"{stem.name}{summary}", record))
    files.append(write_rows(rows_path(stem), rows))
    return files


# --------------------------------------------------------------------------------------------------
# the result contract
# --------------------------------------------------------------------------------------------------
def score_record_path(stem: Path) -> Path | None:
    """THE lookup of vleval's ScoreRecord beside ``<stem>.xlsx``: ``_vleval.json`` where present, else
    ``_score.json`` when it is vleval's (OCRBench's and CRPE's ``_score.json`` are the reference's);
    None when neither is. A candidate that is not JSON raises ``DataCorruptError`` naming it (it may be
    vleval's record: leaving it out would drop a number silently)."""
    for suffix in (VLEVAL_SUFFIX, SCORE_SUFFIX):
        path = stem.parent / f"{stem.name}{suffix}"
        if path.is_file() and _has_schema(path):
            return path
    return None


def rows_path(stem: Path) -> Path:
    """Where the per-row results of ``<stem>.xlsx`` are (``<stem>_rows.jsonl``), present or not."""
    return stem.parent / f"{stem.name}{ROWS_SUFFIX}"


def _has_schema(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataCorruptError(
            f"{path}: not valid JSON ({exc}); re-score with `vleval eval` (predictions are kept)."
        ) from None
    return isinstance(data, dict) and "schema" in data and "headline_name" in data


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


def read_rows(path: Path, *, skip_bad: bool = False) -> list[RowResult]:
    """The rows of a ``_rows.jsonl``; a line that is not a row raises, or with ``skip_bad`` is left
    out (the report reads what it can of a file an interrupted run cut short)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                _check_schema(data, path)
                rows.append(RowResult(**data))
            except (json.JSONDecodeError, TypeError, DataCorruptError) as exc:
                if skip_bad:
                    continue
                if isinstance(exc, DataCorruptError):
                    raise
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
        if data.get("judge_calibration") is not None:
            calibration = dict(data["judge_calibration"])
            for key in ("interval", "sample_interval"):
                calibration[key] = Interval(**calibration[key])
            data["judge_calibration"] = JudgeCalibration(**calibration)
        if data.get("rotation_consistency") is not None:
            consistency = dict(data["rotation_consistency"])
            consistency["interval"] = Interval(**consistency["interval"])
            data["rotation_consistency"] = RotationConsistency(**consistency)
        if data.get("multimodal_gain") is not None:
            gain = dict(data["multimodal_gain"])
            for key in ("gain_interval", "leakage_interval"):
                gain[key] = None if gain.get(key) is None else Interval(**gain[key])
            data["multimodal_gain"] = MultimodalGain(**gain)
        if data.get("subset") is not None:
            data["subset"] = Subset(**data["subset"])
        if data.get("settings") is not None:
            from vleval.settings import settings_from_json

            data["settings"] = settings_from_json(data["settings"], str(path))
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
