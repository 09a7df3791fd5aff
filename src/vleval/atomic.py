"""The one way vleval writes a file that another process (or a resumed run) may read: write to a
temp file unique to this process beside the target, fsync, then rename over the target. A kill at any
moment leaves either the old file or the new one, never half of one; two processes never share a temp
file. Stray temp files of dead processes are hidden (dot-names) and removed by ``clean_stale_temps``.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_PREFIX = ".vleval-tmp."


def atomic_write(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f"{TEMP_PREFIX}{os.getpid()}.{path.name}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # disk full, read-only folder: the error names the file being written
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        if tmp.exists():
            tmp.unlink(missing_ok=True)
    return path


def clean_stale_temps(folder: Path) -> int:
    """Remove temp files left by processes that no longer run; returns how many were removed."""
    removed = 0
    for tmp in Path(folder).glob(f"{TEMP_PREFIX}*"):
        pid_text = tmp.name[len(TEMP_PREFIX) :].split(".", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
