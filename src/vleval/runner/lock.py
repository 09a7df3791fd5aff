"""One run per model work dir: an OS file lock (``flock``) held for the whole run.

Two runs writing ``<work-dir>/<model>/`` at once would infer samples twice and delete each other's
live progress files when compacting. The lock is taken by rank 0 of a run (the other ranks of the same
distributed run work under it), on ``<work-dir>/<model>/.vleval.lock``; the kernel drops it when the
process ends in any way, SIGKILL included, so no stale lock is ever left. The file holds the holder's
pid, host and run id, so a refused run can say who holds it. The file itself stays (removing a lock
file while another process waits on it would let two holders in).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from vleval.atomic import clean_stale_temps
from vleval.errors import VlevalError

LOCK_NAME = ".vleval.lock"


class WorkDirBusyError(VlevalError):
    """Another run holds the work dir."""


class WorkDirLock:
    """Exclusive, non-blocking lock of one model work dir; ``release`` (or process exit) frees it."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, run_id: str) -> WorkDirLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise WorkDirBusyError(
                f"{self.folder} is in use by another vleval run ({holder}); two runs on one work dir would "
                "infer samples twice and disturb each other's progress files. Wait for it to finish (or "
                "stop it), or use another --work-dir."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, run {run_id}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same, only its holder goes unnamed
            pass
        self._fd = fd
        # temp files of processes that died mid-write (never those of live processes)
        clean_stale_temps(self.folder)
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "holder not yet recorded"


class WorkDirLocks:
    """The locks of every model folder of a run, taken all or none."""

    def __init__(self, folders: list[Path]) -> None:
        self.locks = [WorkDirLock(f) for f in folders]

    def acquire(self, run_id: str) -> WorkDirLocks:
        taken = []
        try:
            for lock in self.locks:
                taken.append(lock.acquire(run_id))
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        return self

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
