"""Progress on a terminal, silence in logs: ``vleval.console`` and the commands that use it."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import sys
import termios
import threading
import time

import pytest

from vleval import console
from vleval.cli import build_parser, main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv


class Terminal:
    """A pseudo-terminal: ``stream`` is what a program writes to, ``read()`` what the user saw."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows, 100 columns
        self.stream = os.fdopen(slave, "w", buffering=1, encoding="utf-8")

    def read(self) -> str:
        self.stream.flush()
        chunks = []
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def terminal(monkeypatch):
    """A pty to stand in for stderr; tests call ``attach()`` in their body (pytest's output capture
    sets sys.stderr again after fixtures ran)."""
    term = Terminal()
    term.attach = lambda: monkeypatch.setattr(sys, "stderr", term.stream)
    yield term
    term.close()


@pytest.fixture
def quick(monkeypatch):
    """Every step counts as long (no 2 s wait in tests)."""
    monkeypatch.setattr(console, "DELAY_S", 0.0)
    monkeypatch.setattr(console, "_POLL_S", 0.001)


def test_policy_terminal_only_and_never_under_no_progress(terminal):
    assert console.progress_wanted(True, terminal.stream)
    assert not console.progress_wanted(False, terminal.stream)
    assert not console.progress_wanted(True, io.StringIO())  # a log file or a pipe
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        assert not console.progress_wanted(True, pipe)
    os.close(read_end)


def test_long_step_shows_a_phase_line_then_its_duration(terminal, monkeypatch):
    terminal.attach()
    monkeypatch.setattr(console, "DELAY_S", 0.05)
    monkeypatch.setattr(console, "_POLL_S", 0.01)
    with console.progress_scope(True):
        console.step("quick one")  # ends before the delay: nothing shown
        console.step("scoring MMStar (1,500 rows)")
        time.sleep(0.3)
        console.step(None)
    seen = terminal.read()
    assert "vleval: scoring MMStar (1,500 rows) ..." in seen
    assert "vleval: scoring MMStar (1,500 rows): done in" in seen
    assert "quick one" not in seen


def test_steps_and_bars_are_silent_under_no_progress_and_outside_a_terminal(terminal, quick):
    terminal.attach()
    with console.progress_scope(False):
        console.step("scoring")
        time.sleep(0.05)
        for _ in console.bar(range(3), desc="judge calls"):
            pass
    assert terminal.read() == ""
    log = io.StringIO()
    sys.stderr = log  # restored by attach()'s monkeypatch
    with console.progress_scope(True):
        console.step("scoring")
        time.sleep(0.05)
        for _ in console.bar(range(3), desc="judge calls"):
            pass
    assert log.getvalue() == ""


def test_no_progress_holds_in_worker_threads(terminal, quick):
    """`vleval run` scores (and asks the judge) in a worker thread: --no-progress covers it too."""
    terminal.attach()

    def judge_calls():
        console.step("scoring MMVet")
        for _ in console.bar(range(3), desc="judge gpt-4-turbo", unit="call"):
            time.sleep(0.01)

    with console.progress_scope(False):
        worker = threading.Thread(target=judge_calls)
        worker.start()
        worker.join()
    assert terminal.read() == ""


def test_bar_shows_on_a_terminal(terminal, quick):
    terminal.attach()
    with console.progress_scope(True):
        for _ in console.bar(range(3), desc="judge gpt-4o-mini", unit="call"):
            time.sleep(0.01)
    assert "judge gpt-4o-mini" in terminal.read()


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "--data", "MMStar", "--pred", "p.xlsx"],
        ["report", "--work-dir", "w"],
        ["demo"],
        ["compare", "a", "b"],
        ["judge-audit", "--work-dir", "w", "--judge", "gpt-4o-mini"],
        ["diff-protocols", "2024.12", "2026.08", "--work-dir", "w"],
        ["run", "--model", "m", "--data", "MMStar"],
    ],
)
def test_every_long_command_takes_no_progress(command):
    parser = build_parser()
    assert getattr(parser.parse_args(command), console.NO_PROGRESS_DEST) is True
    assert getattr(parser.parse_args([*command, "--no-progress"]), console.NO_PROGRESS_DEST) is False


def _prediction_file(tmp_path):
    make_benchmark_tsv("MMStar", tmp_path / "data", n=40, seed=3)
    table = load_table(get_benchmark("MMStar"), get_protocol(), root=tmp_path / "data", verify_md5=False)
    return write_prediction_file(tmp_path / "M_MMStar.xlsx", table, {i: "A" for i in table["index"]})


def _eval(tmp_path, pred, *extra):
    return main(["eval", "--data", "MMStar", "--pred", str(pred), "--judge", "none", "--data-dir",
                 str(tmp_path / "data"), "--skip-md5-check", *extra])  # fmt: skip


def test_eval_shows_its_phases_on_a_terminal_only(tmp_path, terminal, quick):
    terminal.attach()
    pred = _prediction_file(tmp_path)
    assert _eval(tmp_path, pred) == 0
    seen = terminal.read()
    assert "vleval: " in seen and "MMStar" in seen and "done in" in seen

    assert _eval(tmp_path, pred, "--no-progress") == 0
    assert "done in" not in terminal.read()


def test_eval_in_a_log_shows_no_phases(tmp_path, capsys, quick):
    pred = _prediction_file(tmp_path)
    assert _eval(tmp_path, pred) == 0
    err = capsys.readouterr().err
    assert "done in" not in err and "scoring MMStar" not in err
