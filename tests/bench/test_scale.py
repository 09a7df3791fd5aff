"""Smoke test of bench/scale.py (the scaling benchmark itself is not part of CI): a tiny size of one
benchmark end to end, run as a user runs it, and the published sizes it is meant to reproduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "scale.py"


def test_scale_runs_small_and_reports_every_number(tmp_path):
    out = tmp_path / "scale.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--fraction", "0.004", "--benchmarks", "HallusionBench",
         "--work", str(tmp_path / "work"), "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(out.read_text())
    (bench,) = found["benchmarks"]
    assert bench["name"] == "HallusionBench" and bench["rows"] == 4  # max(4, 951 x 0.004)
    assert bench["eval_a"]["returncode"] == 0 and bench["eval_a"]["seconds"] > 0
    assert 20 < bench["eval_a"]["peak_mib"] < 4096  # a real child's peak RSS, not the parent's
    low, high = bench["interval"]
    assert low <= bench["headline"] <= high and low < high
    assert found["report"]["returncode"] == 0 and found["compare"]["returncode"] in (0, 1)
    assert (tmp_path / "work" / "a" / "Scale-Model").is_dir() is False  # not kept without --keep
    assert "HallusionBench" in done.stdout and "vleval report:" in done.stdout and "TODO" in done.stdout


def test_published_sizes_cover_every_scored_benchmark():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import scale
    finally:
        sys.path.remove(str(SCRIPT.parent))
    from vleval.datasets.registry import BENCHMARKS

    scored = {name for name, card in BENCHMARKS.items() if card.has_answers}
    assert set(scale.PUBLISHED) == scored and set(scale.UNSCORED) == set(BENCHMARKS) - scored
    assert scale.PUBLISHED["AI2D_TEST"] == 3088 and scale.PUBLISHED["MMStar"] == 1500
