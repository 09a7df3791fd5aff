"""Wall time of `vleval run` on the whole synthetic suite (11 benchmarks with answers, tiny checkpoint,
local stand-in judge), for comparing two checkouts of vleval on the same inputs.

    python bench/suite.py                      # this checkout
    python bench/suite.py --src OTHER/src      # another checkout (e.g. a git worktree of an older commit)

The inputs are built once by this checkout's synthetic factory (same seed, same bytes); the run is a
fresh `python -m vleval run` process with PYTHONPATH pointing at the chosen `src`, at that version's
CPU defaults, so the figure includes process start-up, model load, inference, judging and scoring.
Prints one line per run: seconds, benchmarks, rows.

With ``--reference PYTHON --vlmevalkit DIR --internvl DIR`` it also times the reference toolkit end to
end on the same inputs, alternating with vleval (``--repeat`` rounds of vleval then reference) and
printing the ratio of the medians: bench/parity_reference.py's worker (VLMEvalKit's ``InternVLChat``
loading InternVL's model code into a copy of the same tiny checkpoint, one ``generate`` per row as
VLMEvalKit's ``infer_data`` does) in a fresh process under PYTHON, followed per benchmark by
``dataset.evaluate`` with run.py's default judge, pointed at the same local stand-in judge through
OPENAI_API_BASE. bench/PARITY.md says what PYTHON needs. Each process's CPU seconds (user + system,
all threads) are printed beside its wall time, with the ratio of their medians too: on a machine
shared with other jobs the CPU time moves much less than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run.py's default judge settings per pinned checkout: the MCQ / Y-N judge model, workers, retries
REFERENCE_JUDGE = {
    "2024.12": {"mcq": "chatgpt-0125", "nproc": 4, "retry": 3},  # b13a37db
    "2026.08": {"mcq": "gpt-4o-mini", "nproc": 32, "retry": 6},  # e8e78f05
}
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
    parser.add_argument(
        "--reference", type=Path, metavar="PYTHON", help="also time the reference under PYTHON"
    )
    parser.add_argument("--vlmevalkit", type=Path, help="VLMEvalKit checkout for --reference (e.g. b13a37db)")
    parser.add_argument("--internvl", type=Path, help="OpenGVLab/InternVL checkout for --reference")
    parser.add_argument("--protocol", choices=list(REFERENCE_JUDGE), default="2024.12",
                        help="vleval's --protocol; --vlmevalkit must be its checkout")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="rounds (each: vleval, then the reference)")
    args, extra = parser.parse_known_args()
    if args.reference and not (args.vlmevalkit and args.internvl):
        parser.error("--reference needs --vlmevalkit and --internvl")

    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.checkpoints import make_tiny_checkpoint
    from vleval.synthetic.judge_server import JudgeServer

    root = (args.keep or Path(tempfile.mkdtemp(prefix="vleval-suite-"))).resolve()
    checkpoint, data = root / "tiny-InternVL2_5", root / "data"
    make_tiny_checkpoint(checkpoint, args.family, seed=0)
    for name in SUITE:
        if not (data / f"{name}.tsv").is_file():
            make_benchmark_tsv(name, data, n=args.rows, seed=0)
    if args.reference:
        prepare_reference(args, root, checkpoint, data)
    times: dict[str, list[float]] = {"vleval": [], "reference": []}
    cpu: dict[str, list[float]] = {"vleval": [], "reference": []}
    with JudgeServer() as judge:
        for _ in range(args.repeat):
            (seconds, rc), cpu_s = child_cpu_seconds(
                run_vleval, args, extra, root, checkpoint, data, judge.base_url
            )
            times["vleval"].append(seconds)
            cpu["vleval"].append(cpu_s)
            print(f"{seconds:.1f} s (cpu {cpu_s:.1f} s)  src={args.src}  benchmarks={len(SUITE)}  "
                  f"rows/benchmark={args.rows}  rc={rc}", flush=True)  # fmt: skip
            if args.reference:
                seconds, cpu_s = child_cpu_seconds(run_reference, args, root, judge.chat_url)
                times["reference"].append(seconds)
                cpu["reference"].append(cpu_s)
                print(f"{seconds:.1f} s (cpu {cpu_s:.1f} s)  reference={args.vlmevalkit}  benchmarks={len(SUITE)}",
                      flush=True)  # fmt: skip
    if args.reference:
        for what, found in (("wall", times), ("cpu", cpu)):
            ours, theirs = statistics.median(found["vleval"]), statistics.median(found["reference"])
            print(f"median {what}: vleval {ours:.1f} s, reference {theirs:.1f} s: vleval / reference = "
                  f"{ours / theirs:.2f}")  # fmt: skip
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


def child_cpu_seconds(run, *args):
    """``run(*args)``'s result and the CPU seconds (user + system, all threads) of the child process it
    starts: on a shared machine CPU time moves less with the other jobs than wall time does. The stand-in
    judge server runs in this process and is counted on neither side."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_vleval(
    args: argparse.Namespace, extra: list[str], root: Path, checkpoint: Path, data: Path, judge_url: str
) -> tuple[float, int]:
    """One fresh `vleval run` of the suite: (wall seconds, exit code)."""
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    # the chosen src first; anything already on PYTHONPATH (e.g. an older version's extra packages) after it
    path = os.pathsep.join(filter(None, (str(args.src.resolve()), os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, PYTHONPATH=path, OPENAI_API_KEY="suite-local-judge")
    command = [sys.executable, "-m", "vleval", "run", "--model", str(checkpoint), "--data", *SUITE,
               "--work-dir", str(work), "--data-dir", str(data), "--skip-md5-check", "--no-progress",
               "--judge-base-url", judge_url, "--max-new-tokens", str(args.max_new_tokens),
               "--protocol", args.protocol, *extra]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):  # 1: a tiny random model may leave failed samples
        sys.exit(f"vleval run failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.returncode


def prepare_reference(args: argparse.Namespace, root: Path, checkpoint: Path, data: Path) -> None:
    """A copy of the checkpoint with InternVL's model code, and one $LMUData folder per benchmark (so
    that splits sharing an image folder in VLMEvalKit do not read each other's images: PARITY.md)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from parity_reference import _reference_model_code

    theirs = root / "ref_ckpt" / checkpoint.name
    shutil.rmtree(theirs, ignore_errors=True)
    shutil.copytree(checkpoint, theirs)
    _reference_model_code(args.internvl, theirs)
    for name in SUITE:
        (root / "lmudata" / name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(data / f"{name}.tsv", root / "lmudata" / name / f"{name}.tsv")


def run_reference(args: argparse.Namespace, root: Path, judge_chat_url: str) -> float:
    """One fresh reference process: inference and scoring of the suite; its wall seconds."""
    out = root / "reference"
    shutil.rmtree(out, ignore_errors=True)
    for name in SUITE:  # VLMEvalKit's decoded-image cache: rebuilt each run, as vleval's run decodes anew
        shutil.rmtree(root / "lmudata" / name / "images", ignore_errors=True)
    ckpt = root / "ref_ckpt" / "tiny-InternVL2_5"
    spec = {
        "vlmevalkit": str(args.vlmevalkit.resolve()), "lmudata": str(root / "lmudata"), "cot": False,
        "device": "cpu", "dtype": "bfloat16", "image_cache_per_dataset": True,
        "max_new_tokens": args.max_new_tokens, "datasets": list(SUITE), "models": [[ckpt.name, str(ckpt), False]],
        "out": str(out), "evaluate": REFERENCE_JUDGE[args.protocol],
    }  # fmt: skip
    spec_file = root / "reference-spec.json"
    spec_file.write_text(json.dumps(spec, indent=1))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "USE_COT", "LMUData")}
    env.update(OPENAI_API_BASE=judge_chat_url, OPENAI_API_KEY="sk-suite-local-judge", NO_PROXY="127.0.0.1")
    log = root / "reference.log"
    started = time.monotonic()
    with log.open("w") as fh:
        command = [str(args.reference), str(Path(__file__).resolve().parent / "parity_reference.py"),
                   "--worker", str(spec_file)]  # fmt: skip
        done = subprocess.run(command, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"the reference failed ({done.returncode}); see {log}")
    # A row the reference could not run costs it no inference: a timing with such rows is not comparable.
    rows = [json.loads(line) for f in sorted(out.glob("*/*.jsonl")) for line in f.read_text().splitlines()]
    failed = sum("error" in row for row in rows)
    if failed:
        print(
            f"reference: {failed} of {len(rows)} rows failed (first: {next(r for r in rows if 'error' in r)})"
        )
    return seconds


if __name__ == "__main__":
    main()
