"""Helpers for the runner tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

DATASETS = {"MMStar": 6, "OCRBench": 4}
MODEL_NAME = "TinyVL-Qwen2"


# One request per forward (the CPU default): the byte-identity tests compare runs whose samples are
# split differently (ranks, kills, resumes); in bf16 a batch of other rows is another GEMM shape, which
# AMX kernels round differently. One at a time, every run gives each sample the same shapes.
BATCH_SIZE = 1


def run_args(model: Path, data_dir: Path, work_dir: Path, *extra: str) -> list[str]:
    """The `vleval run` arguments every runner test shares (small budget, rule-based scoring)."""
    return [
        "--model", str(model), "--data", *DATASETS, "--data-dir", str(data_dir), "--work-dir", str(work_dir),
        "--skip-md5-check", "--max-new-tokens", "8", "--judge", "none", "--device", "cpu",
        "--batch-size", str(BATCH_SIZE), "--save-prompts", "--no-progress", *extra,
    ]  # fmt: skip


def final_files(work_dir: Path) -> dict[str, bytes]:
    """Every output a user or a tool reads (predictions, prompts, scores), not run.json (it records
    timings) nor the internal progress folder. A score record's settings name the batch size the run
    was given (``EvalSettings.batch_size``): runs given another one must still agree on every byte of
    the rest, so that one value is left out of the comparison."""
    model_dir = work_dir / MODEL_NAME
    return {
        p.name: _without_batch_size(p) if p.name.endswith(("_score.json", "_vleval.json")) else p.read_bytes()
        for p in sorted(model_dir.iterdir())
        if p.is_file() and p.name != "run.json" and not p.name.startswith(".")
    }


def _without_batch_size(path: Path) -> bytes:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("settings"), dict):
        data["settings"].pop("batch_size", None)
    return json.dumps(data, sort_keys=False).encode()


def assert_same_outputs(work_dir: Path, reference: Path) -> None:
    got, want = final_files(work_dir), final_files(reference)
    assert sorted(got) == sorted(want)
    different = [name for name in want if got[name] != want[name]]
    assert not different, f"files differ from the uninterrupted run: {different}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    drop = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "USE_COT", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SLURM_")}
    env.update({"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **extra})
    return env


def vleval_command() -> list[str]:
    return [sys.executable, "-m", "vleval"]


def torchrun_command(nproc: int) -> list[str]:
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    return [*launcher, "--standalone", f"--nproc-per-node={nproc}", "-m", "vleval"]


def run_subprocess(command: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=subprocess_env(**env), capture_output=True, text=True, timeout=timeout)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
