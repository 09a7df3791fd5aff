"""Wall time of `vleval run` on the whole synthetic suite (11 benchmarks with answers, tiny checkpoint,
local stand-in judge), for comparing two checkouts of vleval on the same inputs.

    python bench/suite.py                      # this checkout
    python bench/suite.py --src OTHER/src      # another checkout (e.g. a git worktree of an older commit)

The inputs are built once by this checkout's synthetic factory (same seed, same bytes); the run is a
fresh `python -m vleval run` process with PYTHONPATH pointing at the chosen `src`, at that version's
CPU defaults, so the figure includes process start-up, model load, inference, judging and scoring.
Prints one line: seconds, benchmarks, rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = ("MMBench_DEV_EN_V11", "MMStar", "MMMU_DEV_VAL", "MathVista_MINI", "HallusionBench", "AI2D_TEST",
         "OCRBench", "MMVet", "LLaVABench", "CRPE_EXIST", "CRPE_RELATION")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    parser.add_argument(
        "--rows", type=int, default=8, help="rows per benchmark (MMBench: rows x 4 rotations)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=16)
    # qwen3 / qwen3_moe: InternVL3.5's layouts (the tiny checkpoints of vleval.synthetic.checkpoints)
    parser.add_argument("--family", choices=("qwen2", "internlm2", "qwen3", "qwen3_moe"), default="qwen2")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    args, extra = parser.parse_known_args()

    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.checkpoints import make_tiny_checkpoint
    from vleval.synthetic.judge_server import JudgeServer

    root = args.keep or Path(tempfile.mkdtemp(prefix="vleval-suite-"))
    checkpoint, data, work = root / "tiny-InternVL2_5", root / "data", root / "work"
    make_tiny_checkpoint(checkpoint, args.family, seed=0)
    for name in SUITE:
        if not (data / f"{name}.tsv").is_file():
            make_benchmark_tsv(name, data, n=args.rows, seed=0)
    shutil.rmtree(work, ignore_errors=True)
    # the chosen src first; anything already on PYTHONPATH (e.g. an older version's extra packages) after it
    path = os.pathsep.join(filter(None, (str(args.src.resolve()), os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, PYTHONPATH=path, OPENAI_API_KEY="suite-local-judge")
    with JudgeServer() as judge:
        command = [sys.executable, "-m", "vleval", "run", "--model", str(checkpoint), "--data", *SUITE,
                   "--work-dir", str(work), "--data-dir", str(data), "--skip-md5-check", "--no-progress",
                   "--judge-base-url", judge.base_url, "--max-new-tokens", str(args.max_new_tokens), *extra]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.monotonic() - started
    if done.returncode not in (0, 1):  # 1: a tiny random model may leave failed samples
        sys.exit(f"vleval run failed ({done.returncode}): {done.stderr[-2000:]}")
    print(
        f"{seconds:.1f} s  src={args.src}  benchmarks={len(SUITE)}  rows/benchmark={args.rows}  rc={done.returncode}"
    )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
