"""Shared by the workflow tests: no developer judge settings leak in; and, for `vleval compare`, two
real runs of the synthetic suite: A, made by the real runner with a tiny random model; B, a copy whose
predictions differ on a known set of rows, re-scored with the real `vleval eval`; C, B with CoT
recorded as on (a run that must not be compared silently)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # compare_support (tests use --import-mode=importlib)

from compare_support import MODEL, SUITE, flip_hallusion, flip_mmstar  # noqa: E402

from vleval.cli import main  # noqa: E402


@pytest.fixture(autouse=True)
def _no_judge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in tests/judge: a developer's real judge settings must not leak into the workflows' judge calls
    # (or these tests into the API).
    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    # scoring writes the per-row contract once the benchmark families exist
    pytest.importorskip("vleval.families.base", reason="needs the benchmark families (per-row results)")
    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("compare")
    checkpoint = make_tiny_checkpoint(root / MODEL, "qwen2", seed=0)
    data = root / "data"
    for name, n in SUITE.items():
        make_benchmark_tsv(name, data, n=n, seed=0)
    a = root / "a"
    args = ["--model", str(checkpoint), "--data", *SUITE, "--data-dir", str(data), "--work-dir", str(a)]
    args += [
        "--skip-md5-check",
        "--max-new-tokens",
        "8",
        "--judge",
        "none",
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(["run", *args]) == 0
    b = root / "b"
    shutil.copytree(a, b)
    flip_mmstar(b / MODEL, data)
    flip_hallusion(b / MODEL, data)
    c = root / "c"  # as B, but its run.json says CoT was on
    shutil.copytree(b, c)
    run_json = c / MODEL / "run.json"
    run = json.loads(run_json.read_text())
    run["settings"]["cot"] = True
    for entry in run["datasets"].values():  # each benchmark records the settings it ran with
        entry["settings"]["cot"] = True
    run_json.write_text(json.dumps(run))
    return {"a": a, "b": b, "c": c, "data": data}
