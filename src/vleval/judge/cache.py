"""A persistent judge-answer cache: one SQLite file, one committed row per answer.

Re-scoring the same predictions with the same judge makes no new API calls, and a run killed
mid-way keeps every answer it had received (each answer is its own committed transaction; WAL mode
keeps readers and the writer out of each other's way). Only successful answers are stored: a
request that failed is asked again next time.

The key is the sha256 of the canonical JSON of ``{"model": ..., "request": ...}``, where the request
is what decides the answer (messages, temperature, max_tokens). The endpoint URL and the API key are
not part of it, and the key is never stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from vleval.errors import DataCorruptError
from vleval.types import JUDGE_FAILURE_TEXT

CACHE_FILE_NAME = "judge_cache.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_dir(work_dir: Path) -> Path:
    """Where a run under ``work_dir`` keeps its judge answers."""
    return Path(work_dir) / ".judge_cache"


def cache_key(model: str, request: dict[str, Any]) -> str:
    """sha256 of (model id, request body) in canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        {"model": model, "request": request}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JudgeCache:
    """Thread-safe key -> answer store in ``<cache_dir>/judge_cache.sqlite``."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = Path(cache_dir) / CACHE_FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # One connection shared by the worker threads, serialised by the lock.
            self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()
        except sqlite3.DatabaseError as err:
            raise DataCorruptError(
                f"The judge cache {self.path} cannot be opened as an SQLite database ({err}). "
                "Move it aside (answers in it will be asked again) or pass another cache directory."
            ) from None

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key in keys:
            answer = self.get(key)
            if answer is not None:
                found[key] = answer
        return found

    def put(self, key: str, model: str, request: dict[str, Any], answer: str) -> None:
        """Store one answer and commit it at once, so that a kill right after loses nothing. The
        failure text is never stored: a failed request must be asked again next time."""
        if answer == JUDGE_FAILURE_TEXT:
            return
        body = json.dumps(request, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (key, model, request, answer, created) VALUES (?, ?, ?, ?, ?)",
                (key, model, body, answer, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"JudgeCache({str(self.path)!r})"
