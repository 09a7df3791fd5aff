"""Shared fixtures for the runner tests: one tiny checkpoint, tiny benchmark files, one uninterrupted
reference run that the distributed, killed and Slurm runs must reproduce byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # runner_support (tests use --import-mode=importlib)

from runner_support import DATASETS, MODEL_NAME, run_args  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / MODEL_NAME, "qwen2", seed=0)


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory) -> Path:
    from vleval.synthetic.benchmarks import make_benchmark_tsv

    root = tmp_path_factory.mktemp("LMUData")
    for name, n in DATASETS.items():
        make_benchmark_tsv(name, root, n=n, seed=0)
    return root


@pytest.fixture(scope="session")
def reference_run(tiny_model, bench_dir, tmp_path_factory) -> Path:
    """One uninterrupted single-process run; returns its work dir."""
    from vleval.cli import main

    work = tmp_path_factory.mktemp("reference")
    assert main(["run", *run_args(tiny_model, bench_dir, work)]) == 0
    return work
