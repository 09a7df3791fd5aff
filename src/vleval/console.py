"""What a command shows on the terminal while it works: progress bars and phase lines.

One policy (``progress_wanted``): progress is shown only when stderr is a terminal and the user did not
pass ``--no-progress``; logs, pipes, Slurm output files and CI stay quiet. Everything else here applies it:

- ``bar``: a tqdm bar (counted work: samples, judge calls, benchmarks) that appears only once the work
  has run ``DELAY_S`` seconds, so quick steps print nothing.
- ``step``: names the phase a command is in ("scoring MMStar (1,500 rows)"). One line appears when a
  phase has run ``DELAY_S`` seconds, and a closing line with its duration when it ends, so a long step
  is never silent and a short one is never noisy. Steps are one-line calls (no indentation), reported
  by a watcher thread that ``progress_scope`` starts; outside a scope they do nothing.

``vleval.cli.main`` opens the scope for every command with the command's ``--no-progress`` (declared
once, ``add_no_progress_option``; ``vleval run``'s option entry reuses the same flag and help).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

NO_PROGRESS_FLAG = "--no-progress"
NO_PROGRESS_DEST = "progress_bar"  # the RunConfig field (True: progress wanted)
NO_PROGRESS_HELP = "no progress bars or phase lines (they show only when stderr is a terminal)"

# Work shorter than this shows nothing ("anything over ~2 s" gets a bar or a phase line).
DELAY_S = 2.0
_POLL_S = 0.1


def progress_wanted(requested: bool = True, stream: IO[str] | None = None) -> bool:
    """THE policy: show progress when asked (no ``--no-progress``) and ``stream`` (default: the current
    ``sys.stderr``) is a terminal. A pipe, a file or a log never gets bars or phase lines."""
    if not requested:
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def add_no_progress_option(parser: argparse.ArgumentParser) -> None:
    """The one ``--no-progress`` declaration of every command that shows progress."""
    parser.add_argument(NO_PROGRESS_FLAG, dest=NO_PROGRESS_DEST, action="store_false", help=NO_PROGRESS_HELP)


class _Steps:
    """The phase lines of one command: a watcher thread announces a step once it has run DELAY_S."""

    def __init__(self, stream: IO[str], delay: float) -> None:
        self.stream = stream
        self.delay = delay
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None
        self._announced = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="vleval-steps", daemon=True)
        self._thread.start()

    def step(self, text: str | None) -> None:
        with self._lock:
            self._end_current()
            self._current = (text, time.monotonic()) if text else None
            self._announced = False

    def close(self, *, failed: bool = False) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            if not failed:  # after an error, the error line says what happened, not "done"
                self._end_current()
            self._current = None

    def _watch(self) -> None:
        while not self._stop.wait(_POLL_S):
            with self._lock:
                if self._current and not self._announced:
                    text, started = self._current
                    if time.monotonic() - started >= self.delay:
                        self._say(f"vleval: {text} ...")
                        self._announced = True

    def _end_current(self) -> None:  # with the lock held
        if self._current and self._announced:
            text, started = self._current
            self._say(f"vleval: {text}: done in {time.monotonic() - started:.1f} s")

    def _say(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line, file=self.stream)  # clears and redraws a bar that is showing


# (requested, steps) of the command running in this process; None: no scope (programmatic use), where
# bars follow the policy and steps print nothing. Process-wide, not per thread: `vleval run` scores in a
# worker thread, whose judge bar and steps must obey the command's --no-progress too.
_scope: tuple[bool, _Steps | None] | None = None


@contextlib.contextmanager
def progress_scope(requested: bool = True) -> Iterator[None]:
    """Progress for one command: bars and steps inside follow ``progress_wanted(requested)``."""
    global _scope
    stream = sys.stderr
    steps = _Steps(stream, DELAY_S) if progress_wanted(requested, stream) else None
    outer, _scope = _scope, (requested, steps)
    failed = True
    try:
        yield
        failed = False
    finally:
        _scope = outer
        if steps is not None:
            steps.close(failed=failed)


def step(text: str | None) -> None:
    """Enter the phase ``text`` (None: no phase); the previous phase ends here. See the module doc."""
    scope = _scope
    if scope is not None and scope[1] is not None:
        scope[1].step(text)


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    enabled: bool = True,
    **options: Any,
) -> Any:
    """A tqdm bar on stderr, shown only under the policy (and ``enabled``, the caller's own switch),
    and only once the work has run DELAY_S seconds."""
    from tqdm import tqdm

    scope = _scope
    requested = enabled and (scope is None or scope[0])
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_wanted(requested),
        file=sys.stderr,
        delay=DELAY_S,
        dynamic_ncols=True,
        **options,
    )
