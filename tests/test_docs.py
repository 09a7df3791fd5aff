"""The README's and docs' command blocks run as written (issue 22 item 1).

A fenced ``bash`` block is run when the line before it is ``<!-- docs-test: offline -->``: the mark
says it needs no weights, network or GPU. Blocks are run in file order (README.md, then docs/*.md by
name), each with ``bash -euo pipefail``, in one scratch folder with ``HOME`` there (so ``~/.cache/vleval``
is the demo's cache of this test) and the virtual environment's ``bin`` first on ``PATH``, as after
``source .venv/bin/activate``: a command that works only with a full path fails here. The source under
test is imported through ``PYTHONPATH``. Unmarked blocks (real weights, Slurm, API keys) are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vleval

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- docs-test: offline -->"
_BLOCK = re.compile(r"^" + re.escape(MARK) + r"\n```(?:bash|sh|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def offline_blocks() -> list[tuple[str, str]]:
    """(where, commands) of every marked block."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    blocks = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for k, match in enumerate(_BLOCK.finditer(text), 1):
            line = text[: match.start()].count("\n") + 2
            blocks.append((f"{path.relative_to(ROOT)}:{line} (block {k})", match.group(1)))
    return blocks


def test_marked_blocks_are_found():
    where = [w for w, _ in offline_blocks()]
    assert any(w.startswith("README.md") for w in where) and len(where) >= 2


def test_offline_blocks_run_as_written(tmp_path):
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "vleval").is_file():
        pytest.skip(f"no `vleval` script beside {sys.executable} (not the install.sh virtual environment)")
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "VLEVAL_", "LMUData", "HF_", "LOCAL_LLM", "USE_COT"))
    }
    env.update(
        HOME=str(home),
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(Path(vleval.__file__).resolve().parents[1]),
        HF_HUB_OFFLINE="1",
    )
    for where, commands in offline_blocks():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", commands],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"{where} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
        assert "Traceback" not in done.stderr, where
