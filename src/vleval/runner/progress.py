"""Durable inference progress, keyed by sample, shared by all ranks and all runs.

Layout: ``<work-dir>/<model>/.progress/<model>_<dataset>/`` holds append-only JSONL files, one per
(run, rank): ``<run-id>.rank<r>.jsonl``. Every line is one finished sample (its prediction, or its
error) with a checksum; each batch is flushed and fsync'd before the next starts.

Records are keyed by what determines the prediction (dataset, index, prompt text, image bytes,
generation settings, model, protocol, CoT, backend), never by rank, so a run resumed with another
number of ranks, or after any kill, reuses every finished sample. Lines that are truncated (a kill
mid-write), undecodable or fail their checksum are reported and never trusted: their samples are
simply inferred again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from vleval.atomic import TEMP_PREFIX, atomic_write

RECORD_VERSION = 1
# 2: images keyed by their bytes in the benchmark file, not by decoded pixels (records keyed by the
# old scheme are not recognised: their samples are inferred again)
KEY_SCHEME = 2
COMPACT_NAME = "compact.jsonl"


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_digest(image: Image.Image) -> str:
    """sha256 of what the model sees: mode, size and pixel bytes."""
    h = hashlib.sha256(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def sample_key(
    *,
    dataset: str,
    index: int | str,
    text: str,
    image_digests: Sequence[str],
    request_settings: Mapping[str, Any],
    model_id: str,
    protocol: str,
    cot: bool,
    backend: str,
) -> str:
    """The identity of one inference: same key, same prediction."""
    return _digest(
        {
            "dataset": dataset,
            "index": index,
            "text": text,
            "images": list(image_digests),
            "settings": dict(request_settings),
            "model": model_id,
            "protocol": protocol,
            "cot": cot,
            "backend": backend,
            "scheme": KEY_SCHEME,
        }
    )[:32]


def plain_index(index: Any) -> int | str:
    """numpy/pandas scalars -> int or str, so indices round-trip through JSON unchanged."""
    if isinstance(index, str):
        return index
    try:
        as_int = int(index)
    except (TypeError, ValueError):
        return str(index)
    return as_int if as_int == index else str(index)


@dataclass
class Record:
    key: str
    index: int | str
    prediction: str
    raw: str | None = None
    error: str | None = None
    seconds: float | None = None
    tiles: list[int] = field(default_factory=list)
    prompt: str | None = None
    hit_token_limit: bool = False  # generation stopped at max_new_tokens (scoring counts these)
    over_context: bool = False  # the prompt was longer than the model's context length

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_line(self) -> str:
        body = {"v": RECORD_VERSION, **asdict(self)}
        body["sum"] = _digest(body)[:16]
        return json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n"


_FIELDS = {"key", "index", "prediction", "raw", "error", "seconds", "tiles", "prompt"}
_OPTIONAL_FIELDS = {"hit_token_limit", "over_context"}  # added later: older lines lack them


def parse_line(line: str) -> Record:
    """One JSONL line -> Record; ValueError saying what is wrong otherwise."""
    if not line.endswith("\n"):
        raise ValueError("truncated (no end of line: the run was killed while writing it)")
    try:
        body = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    if body.get("v") != RECORD_VERSION:
        raise ValueError(f"unknown record version {body.get('v')!r}")
    checksum = body.pop("sum", None)
    if checksum != _digest(body)[:16]:
        raise ValueError("checksum mismatch (the line was altered or partly written)")
    fields = set(body) - {"v"}
    if not _FIELDS <= fields or fields - _FIELDS - _OPTIONAL_FIELDS:
        raise ValueError("missing or unexpected fields")
    body.pop("v")
    if not isinstance(body["key"], str) or not isinstance(body["prediction"], str):
        raise ValueError("bad field types")
    return Record(**body)


@dataclass(frozen=True)
class ProgressIssue:
    file: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.problem}"


@dataclass
class ProgressState:
    records: dict[str, Record]  # best record per key: a success beats a failure
    issues: list[ProgressIssue]
    files: list[Path]

    def done(self, key: str) -> bool:
        record = self.records.get(key)
        return record is not None and record.ok


def progress_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".jsonl" and p.is_file() and not p.name.startswith(TEMP_PREFIX)
    )


def load_progress(folder: Path) -> ProgressState:
    """Every valid record in ``folder``; bad lines become issues (their samples count as not done)."""
    records: dict[str, Record] = {}
    issues: list[ProgressIssue] = []
    files = progress_files(folder)
    for path in files:
        with path.open("r", encoding="utf-8", newline="") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    record = parse_line(line)
                except ValueError as exc:
                    issues.append(ProgressIssue(path, number, str(exc)))
                    continue
                previous = records.get(record.key)
                if previous is None or (record.ok and not previous.ok):
                    records[record.key] = record
    return ProgressState(records, issues, files)


class ProgressWriter:
    """Append-only, durable: ``append`` returns once the batch is on disk (flush + fsync)."""

    def __init__(self, folder: Path, run_id: str, rank: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{run_id}.rank{rank}.jsonl"
        self._fh = self.path.open("a", encoding="utf-8", newline="")
        _fsync_dir(folder)

    def append(self, records: Iterable[Record]) -> None:
        try:
            self._fh.write("".join(r.to_line() for r in records))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:  # disk full, quota: the error names the file (records before it are kept)
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> ProgressWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def compact(folder: Path, state: ProgressState) -> Path:
    """Rewrite every valid record into one file (atomically) and drop the per-run files, so the folder
    does not grow with every resume. Safe to kill at any point: records are in the old files or in the
    new one (possibly both, which is harmless)."""
    target = folder / COMPACT_NAME
    atomic_write(target, "".join(state.records[k].to_line() for k in sorted(state.records)))
    _fsync_dir(folder)
    for path in state.files:
        if path != target:
            path.unlink(missing_ok=True)
    return target


class ProgressWatcher:
    """Counts the finished samples this run's ranks have written so far (rank 0's progress bar reads
    the other ranks' files; incremental, so polling is cheap)."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = folder
        self.prefix = f"{run_id}.rank"
        self._offsets: dict[Path, int] = {}
        self._counts: dict[Path, int] = {}

    def count(self) -> int:
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if not path.name.startswith(self.prefix):
                    continue
                offset = self._offsets.get(path, 0)
                with path.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                complete = chunk.rfind(b"\n") + 1  # only whole lines count
                self._counts[path] = self._counts.get(path, 0) + chunk[:complete].count(b"\n")
                self._offsets[path] = offset + complete
        return sum(self._counts.values())
