"""Prediction files in the reference layout (docs/benchmark-protocol.md).

``{MODEL}_{DATASET}.xlsx``: every column of the loaded benchmark table except ``image``, in table row
order, plus ``prediction`` (VK ``vlmeval/inference.py::infer_data_job``). ``.tsv`` is accepted too
(VK ``PRED_FORMAT=tsv``). Files are written atomically (``vleval.atomic``), so a crash never leaves a
half-written prediction file behind, with the user's umask like every other file.
"""

from __future__ import annotations

import csv
import json
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from vleval.atomic import atomic_write
from vleval.datasets.cells import isna
from vleval.datasets.results import XLSX_CELL_LIMIT, write_xlsx, xlsx_truncated
from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.protocol import Protocol, Quirk

PREDICTION_SUFFIXES = (".xlsx", ".tsv")
RAW_PREDICTIONS_ATTR = "prediction_raw"  # DataFrame.attrs key: prediction cells as written
# Beside the prediction file: the indices whose generation stopped at max_new_tokens. A file of its
# own, so the prediction file keeps exactly the reference's columns (and so do the result files
# scoring copies from it), while the fact survives a copied prediction folder.
TOKEN_LIMIT_SUFFIX = "_token_limit.json"
# Beside it, for a thinking entry: the rows whose reply has no answer to score as such, with why
# (``models.internvl.thinking.CensorReason``); stats count them censored.
CENSORED_SUFFIX = "_censored.json"


class RawCells(tuple):
    """The prediction cells as written, kept in ``DataFrame.attrs``. pandas deep-copies ``attrs`` into
    every frame an operation returns; an immutable tuple that is its own deep copy makes that free
    (a list of 4,875 MMBench predictions was copied some 28,000 times while scoring: minutes)."""

    def __deepcopy__(self, memo: dict) -> RawCells:
        return self


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in PREDICTION_SUFFIXES:
        raise VlevalError(f"{path}: prediction files must end in .xlsx or .tsv, not {suffix or '(none)'!r}.")
    return suffix


def _cell(value: Any) -> Any:
    # list cells (multi-image `image_path`) as the literal the loader parses back
    return str(value) if isinstance(value, (list, tuple)) else value


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    suffix = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        cut = xlsx_truncated(frame)
        if cut:
            warnings.warn(
                f"{path.name}: {len(cut)} prediction(s) longer than {XLSX_CELL_LIMIT} characters are cut in the "
                f"xlsx (index {', '.join(cut[:5])}); the run's progress file keeps the full text, and scoring "
                f"names these rows (the reference scores the cut text too).",
                stacklevel=3,
            )
        write_xlsx(frame, path)
    else:
        atomic_write(path, frame.to_csv(sep="\t", index=False, quoting=csv.QUOTE_ALL))


def _key(index: Any) -> str:
    return str(index)


def token_limit_file(pred_file: Path | str) -> Path:
    pred_file = Path(pred_file)
    return pred_file.with_name(pred_file.stem + TOKEN_LIMIT_SUFFIX)


def write_token_limit_hits(pred_file: Path | str, indices: Iterable[Any]) -> None:
    """Record which rows of ``pred_file`` were cut at the token limit (none: no file)."""
    path = token_limit_file(pred_file)
    keys = sorted({_key(i) for i in indices})
    if keys:
        atomic_write(path, json.dumps(keys) + "\n")
    else:
        path.unlink(missing_ok=True)


def read_token_limit_hits(pred_file: Path | str) -> set[str]:
    """The indices (as text) recorded by ``write_token_limit_hits``; empty without the file."""
    path = token_limit_file(pred_file)
    if not path.is_file():
        return set()
    try:
        keys = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataCorruptError(
            f"{path}: unreadable ({exc}); delete it to score without token-limit marks."
        ) from None
    if not isinstance(keys, list):
        raise DataCorruptError(
            f"{path}: expected a JSON list of indices; delete it to score without token-limit marks."
        )
    return {_key(k) for k in keys}


def censored_file(pred_file: Path | str) -> Path:
    pred_file = Path(pred_file)
    return pred_file.with_name(pred_file.stem + CENSORED_SUFFIX)


def write_censored_marks(pred_file: Path | str, reasons: Mapping[Any, str]) -> None:
    """Record which rows of ``pred_file`` are censored thinking replies, and why (none: no file)."""
    path = censored_file(pred_file)
    if reasons:
        atomic_write(path, json.dumps({_key(k): str(v) for k, v in sorted(reasons.items())}) + "\n")
    else:
        path.unlink(missing_ok=True)


def read_censored_marks(pred_file: Path | str) -> dict[str, str]:
    """index (as text) -> why, as ``write_censored_marks`` recorded it; empty without the file."""
    path = censored_file(pred_file)
    if not path.is_file():
        return {}
    fix = "delete it to score without censoring marks (the run's progress folder recreates it)."
    try:
        if path.stat().st_size > 64 * 2**20:  # untrusted input: a bounded read
            raise DataCorruptError(f"{path}: larger than 64 MiB; {fix}")
        marks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataCorruptError(f"{path}: unreadable ({exc}); {fix}") from None
    if not isinstance(marks, dict) or not all(isinstance(v, str) for v in marks.values()):
        raise DataCorruptError(f"{path}: expected a JSON object of index -> reason; {fix}")
    return {_key(k): v for k, v in marks.items()}


def write_prediction_file(
    path: Path | str,
    table: pd.DataFrame,
    predictions: Mapping[Any, str],
    extra_columns: Mapping[str, Mapping[Any, Any]] | None = None,
) -> Path:
    """Write ``table`` (the loaded benchmark, or the part of it that ran) without ``image``, plus
    ``prediction`` = ``str(text)`` per row and any ``extra_columns`` (name -> index -> value).

    Every table row needs a prediction and every prediction a table row (keys compared as strings,
    so 7 and "7" are the same index)."""
    path = Path(path)
    _suffix(path)
    by_key = {_key(k): v for k, v in predictions.items()}
    table_keys = [_key(k) for k in table["index"]]
    missing = [k for k in table_keys if k not in by_key]
    if missing:
        raise DataMissingError(
            f"cannot write {path}: no prediction for {len(missing)} row(s) (index {', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}). Finish the run first, or pass only the rows that ran."
        )
    unknown = sorted(set(by_key) - set(table_keys))
    if unknown:
        raise DataCorruptError(
            f"cannot write {path}: predictions for index {', '.join(unknown[:5])} are not rows of the "
            f"benchmark table; were they made for another benchmark?"
        )
    frame = table.drop(columns=["image"], errors="ignore").copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = [_cell(v) for v in frame[column]]
    frame["prediction"] = [str(by_key[k]) for k in table_keys]
    for name, values in (extra_columns or {}).items():
        keyed = {_key(k): v for k, v in values.items()}
        frame[name] = [_cell(keyed.get(k)) for k in table_keys]
    _write_frame(frame, path)
    return path


def _read_raw(path: Path) -> pd.DataFrame:
    suffix = _suffix(path)
    if not path.is_file():
        raise DataMissingError(
            f"prediction file {path} does not exist. Check the path, or run the model first."
        )
    try:
        if suffix == ".xlsx":
            return pd.read_excel(path)
        # keep prediction text as written ('007' stays '007'); empty cells still read as NaN
        return pd.read_csv(path, sep="\t", dtype={"prediction": str})
    except (ValueError, OSError, pd.errors.ParserError, zipfile.BadZipFile, KeyError) as exc:
        raise DataCorruptError(f"{path}: cannot be read as a prediction file ({exc}).") from None


def _raw_predictions(path: Path, read: pd.Series | None = None) -> list[str]:
    """The prediction cells exactly as written ('' for empty; 'None' and 'NA' stay text).

    ``read``: the column as ``_read_raw`` read it. Where every cell of it is text, pandas kept each
    cell as written (an empty cell or an NA word would be NaN, a column of numbers or booleans
    converted): the cells are those texts, and the file is not read again. Otherwise the column is
    read once more as text (pandas cannot give both readings from one parse without its private
    parser: bench/prediction_read.py measures what the second one costs)."""
    if read is not None and all(isinstance(v, str) for v in read):
        return list(read)
    if path.suffix.lower() == ".xlsx":
        column = pd.read_excel(path, usecols=["prediction"], dtype=str, keep_default_na=False)["prediction"]
    else:
        column = pd.read_csv(path, sep="\t", usecols=["prediction"], dtype=str, keep_default_na=False)[
            "prediction"
        ]
    return [str(v) for v in column]


def read_questions(path: Path) -> dict[str, str]:
    """index -> question of a prediction file (only those two columns; {} without a question column),
    for results whose rows were written before they carried their question."""
    def wanted(column: object) -> bool:
        return column in ("index", "question")

    path = Path(path)
    try:
        if _suffix(path) == ".xlsx":
            frame = pd.read_excel(path, usecols=wanted)
        else:
            frame = pd.read_csv(path, sep="\t", usecols=wanted)
    except (ValueError, OSError, pd.errors.ParserError, zipfile.BadZipFile, KeyError) as exc:
        raise DataCorruptError(f"{path}: cannot be read as a prediction file ({exc}).") from None
    if "question" not in frame.columns or "index" not in frame.columns:
        return {}
    return {str(i): str(q) for i, q in zip(frame["index"], frame["question"], strict=True)}


def read_prediction_file(
    path: Path | str, table: pd.DataFrame | None = None, *, other_rows: Literal["refuse", "drop"] = "refuse"
) -> pd.DataFrame:
    """A prediction file as a DataFrame, rows in file order.

    Only ``index`` and ``prediction`` are required; with ``table`` (the loaded benchmark), every
    benchmark column the file lacks is joined in by index (the file's own columns are kept, as the
    reference scores the prediction file's columns), and ``index`` takes the table's type. The
    benchmark's ground truth (``TRUTH_COLUMNS``) must then agree with the file's: a prediction file
    whose answers were edited is refused, naming the rows, rather than scored against its own answers.
    ``prediction`` is left as read: an empty prediction is NaN here; ``prediction_texts`` turns it
    into the text scoring sees. A row whose index is not in ``table`` is refused, or with
    ``other_rows="drop"`` left out (``table`` is a ``--limit`` subset of the benchmark).
    """
    path = Path(path)
    frame = _read_raw(path)
    for column in ("index", "prediction"):
        if column not in frame.columns:
            raise DataCorruptError(
                f"{path}: no {column!r} column (columns: {', '.join(map(str, frame.columns))}). A prediction "
                f"file needs at least 'index' and 'prediction'."
            )
    keys = [_key(k) for k in frame["index"]]
    seen: dict[str, int] = {}
    for row, key in enumerate(keys, start=2):  # row 1 is the header
        if key in seen:
            raise DataCorruptError(
                f"{path}: row {row}: index {key} repeats row {seen[key]}; keep one prediction per index."
            )
        seen[key] = row
    raw = _raw_predictions(path, frame["prediction"])
    if table is None:
        frame.attrs[RAW_PREDICTIONS_ATTR] = RawCells(raw)
        return frame
    rows_by_key = {_key(k): i for i, k in enumerate(table["index"])}
    if other_rows == "drop":
        inside = [key in rows_by_key for key in keys]
        frame = frame[inside].reset_index(drop=True)
        raw = [text for text, keep in zip(raw, inside, strict=True) if keep]
        keys = [key for key, keep in zip(keys, inside, strict=True) if keep]
    for row, key in enumerate(keys, start=2):
        if key not in rows_by_key:
            raise DataCorruptError(
                f"{path}: row {row}: index {key} is not a row of the benchmark table; is this the "
                f"prediction file of another benchmark?"
            )
    positions = [rows_by_key[k] for k in keys]
    aligned = table.drop(columns=["image"], errors="ignore").iloc[positions].reset_index(drop=True)
    _require_benchmark_truth(path, frame, aligned)
    merged = frame.copy()
    merged["index"] = aligned["index"].tolist()
    for column in aligned.columns:
        if column not in merged.columns:
            merged[column] = aligned[column].tolist()
    ordered = [c for c in aligned.columns] + [c for c in merged.columns if c not in aligned.columns]
    merged = merged[ordered]
    merged.attrs[RAW_PREDICTIONS_ATTR] = RawCells(raw)
    return merged


# The benchmark's ground truth: with the benchmark table at hand, a prediction file's copy of these
# columns must match it (a reference prediction file carries them as written from the same table).
TRUTH_COLUMNS = ("answer", "answer_option", "gpt4_ans")


def _same_cell(mine: Any, truth: Any) -> bool:
    """The same value once written to and read back from a prediction file: NaN is NaN, and a number
    may come back as text or the other way round (an xlsx cell keeps the type a TSV column inferred)."""
    if isna(mine) or isna(truth):
        return isna(mine) and isna(truth)
    if str(mine) == str(truth):
        return True
    try:
        return float(mine) == float(truth)
    except (TypeError, ValueError):
        return False


def _require_benchmark_truth(path: Path, frame: pd.DataFrame, aligned: pd.DataFrame) -> None:
    for column in TRUTH_COLUMNS:
        if column not in frame.columns or column not in aligned.columns:
            continue
        differ = [
            (row, index)
            for row, (index, mine, truth) in enumerate(
                zip(aligned["index"], frame[column], aligned[column], strict=True), start=2
            )
            if not _same_cell(mine, truth)
        ]
        if differ:
            shown = ", ".join(f"row {row} (index {index})" for row, index in differ[:5])
            raise DataCorruptError(
                f"{path}: its {column!r} column differs from the benchmark file's in {len(differ)} row(s): "
                f"{shown}{', ...' if len(differ) > 5 else ''}. The benchmark file is the ground truth: "
                f"restore the prediction file's {column!r} column (or drop the column to use the benchmark's)."
            )


def prediction_texts(frame: pd.DataFrame, protocol: Protocol) -> list[str]:
    """The prediction text per row as scoring sees it.

    Under Quirk.EMPTY_PREDICTION_IS_NAN the reference's ``str(x)`` of what pandas read: an empty cell
    (and pandas' NA words such as 'None' or 'NA') becomes 'nan'. Without the quirk, the text exactly
    as written in the file (kept by ``read_prediction_file``), '' for an empty prediction."""
    if protocol.has(Quirk.EMPTY_PREDICTION_IS_NAN):
        return [_prediction_text(value) for value in frame["prediction"]]
    raw = frame.attrs.get(RAW_PREDICTIONS_ATTR)
    if raw is not None and len(raw) == len(frame):
        return list(raw)
    return [_prediction_text(v) if isinstance(v, str) or not isna(v) else "" for v in frame["prediction"]]


def _prediction_text(value: Any) -> str:
    return "nan" if isna(value) else str(value)
