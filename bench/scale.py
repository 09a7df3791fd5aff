"""Scoring at the published benchmarks' sizes: `vleval eval`, `vleval report` and `vleval compare` on
synthetic files with as many rows as the pinned benchmark files, no inference.

    python bench/scale.py                          # all benchmarks at published size, accuracy 0.7
    python bench/scale.py --fraction 0.02          # a small run (the test suite's smoke test)
    python bench/scale.py --work /tmp/scale --keep # keep (and reuse) the generated files

For each benchmark the synthetic factory (``vleval.synthetic``) writes the TSV at its published row
count (``PUBLISHED``), and two prediction files are drawn from the loaded table: run A and run B, each
row answered right with probability ``--accuracy`` (independent draws, seeds 1 and 2). Then, each in a
fresh process with its wall time and peak RSS (``os.wait4``):

- ``vleval eval`` per benchmark, for run A and run B (scoring, intervals and every result file;
  MathVista, MM-Vet and LLaVA-Bench are judged by the local stand-in judge server, so their time
  includes those HTTP calls; the others score rule-only with ``--judge none``);
- ``vleval report`` over run A's work dir (the whole suite);
- ``vleval compare`` of run A against run B (the whole suite, paired bootstrap, flips).

Printed: one line per benchmark (rows, units scored, seconds, peak MiB) and the suite's totals; the
process start-up of ``python -m vleval --help`` is printed once so the goal "no more than 2x the
reference's scoring time plus process start" can be read off. ``--json FILE`` writes the same numbers.

Beside each, with ``--vlmevalkit DIR`` (a VLMEvalKit checkout, e.g. b13a37db) and ``--python`` (an
interpreter where it imports; default this one), the reference's own scoring time on the same
prediction file: a worker process (``--worker``, importing nothing from vleval, as in
``bench/parity_reference.py``) builds the dataset class on the same TSV (its md5 table pointed at the
synthetic file) and times ``dataset.evaluate(copy of run A's file, model="exact_matching")``, the
reference's rule-only scoring. ``--stub-missing`` lets that worker import VLMEvalKit in an interpreter
that lacks some of its requirements (they become empty modules; the rule-only scoring of these
datasets calls none of them). The judged benchmarks (MathVista, MM-Vet, LLaVA-Bench) are scored by
the reference with run.py's default judge model for them and its default settings (4 workers, 3
retries), its OpenAI client pointed at the same local stand-in judge server as vleval's
(``OPENAI_API_BASE``), so both sides' times include the same kind of HTTP calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MODEL = "Scale-Model"
# Rows of the pinned benchmark files, as the synthetic builders count them (questions for MMBench and
# CRPE, whose builders write the rotations). MMBench_DEV_EN_V11: 4,876 rows in the file; the builder
# writes 4, 2, 3, 4, ... rotations per question (3.25 on average), so 1,500 questions give 4,875 rows.
# MMMU_DEV_VAL: 1,050 rows (dev + validation). CRPE: 4 rows per question; the question counts are
# estimates (UNVERIFIED: the files' counts are not recorded in the protocol notes).
PUBLISHED: dict[str, int] = {
    "MMBench_DEV_EN_V11": 1500,
    "MMStar": 1500,
    "MMMU_DEV_VAL": 1050,
    "MathVista_MINI": 1000,
    "HallusionBench": 951,
    "AI2D_TEST": 3088,
    "OCRBench": 1000,
    "MMVet": 218,
    "LLaVABench": 60,
    "CRPE_EXIST": 2000,
    "CRPE_RELATION": 3000,
    # the standard splits' question counts (ChartQA test: 1,250 human + 1,250 augmented)
    "ChartQA_TEST": 2500,
    "TextVQA_VAL": 5000,
    "DocVQA_VAL": 5349,
    "InfoVQA_VAL": 2801,
    # issue 21's multiple choice and yes/no benchmarks: the commonly cited sizes of the splits, UNVERIFIED
    # against the pinned files (MMBench CN: questions, as EN; MME: images, two questions each)
    "MMBench_DEV_CN_V11": 1500,
    "RealWorldQA": 765,
    "ScienceQA_TEST": 2017,
    "SEEDBench_IMG": 14233,
    "SEEDBench2_Plus": 2277,
    "MMT-Bench_VAL": 31325,
    "BLINK": 1901,
    "MME": 1187,
    "POPE": 5127,
}
# the MMBench test splits have no answers: the reference only writes a submission file for them
UNSCORED = ("MMBench_TEST_EN_V11", "MMBench_TEST_CN_V11")
JUDGED = ("MathVista_MINI", "MMVet", "LLaVABench")  # the protocol's judge is required for these
PROTOCOL = "2024.12"


@dataclass
class Timed:
    seconds: float
    peak_mib: float
    returncode: int
    stderr: str = ""


@dataclass
class BenchmarkResult:
    name: str
    rows: int
    eval_a: Timed
    eval_b: Timed
    headline: float | None = None
    interval: list[float] = field(default_factory=list)
    reference_seconds: str = "TODO"


# Runs the command and prints its peak RSS (KiB). A child's ru_maxrss starts from its parent's RSS at
# fork on Linux, so the measuring parent must be small: this launcher, not the script holding pandas.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)"
)


def timed(command: list[str], env: dict[str, str]) -> Timed:
    """Wall time and peak RSS of one command in a fresh process."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    lines = done.stdout.split()
    peak_kib = float(lines[-1]) if lines else float("nan")
    return Timed(seconds, peak_kib / 1024, done.returncode, done.stderr[-2000:])


def wrong_answer(row: dict) -> str:
    answer = str(row.get("answer", ""))
    if answer in ("Yes", "No"):
        return "No" if answer == "Yes" else "Yes"
    if len(answer) == 1 and answer.isalpha():  # an option letter: another option
        return "B" if answer == "A" else "A"
    return "I cannot tell."


def write_inputs(root: Path, sizes: dict[str, int], accuracy: float) -> dict[str, int]:
    """The TSVs and the two runs' prediction files under ``root``; returns rows per benchmark. Reuses
    files from an earlier call with the same sizes and accuracy (``inputs.json``)."""
    from vleval.datasets.loading import load_table
    from vleval.datasets.predictions import write_prediction_file
    from vleval.datasets.registry import BENCHMARKS
    from vleval.protocol import get_protocol
    from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting, right_answer

    marker = root / "inputs.json"
    wanted = {"sizes": sizes, "accuracy": accuracy}
    if marker.is_file() and json.loads(marker.read_text()).get("wanted") == wanted:
        return json.loads(marker.read_text())["rows"]
    rows: dict[str, int] = {}
    for name, n in sizes.items():
        tsv = make_benchmark_tsv(name, root / "data", n=n, seed=0)
        protocol = protocol_accepting(get_protocol(PROTOCOL), {name: tsv})
        table = load_table(BENCHMARKS[name], protocol, root=root / "data")
        records = table.to_dict(orient="records")
        rows[name] = len(records)
        for run, seed in (("a", 1), ("b", 2)):
            draw = random.Random(f"{name}:{seed}")
            predictions = {
                r["index"]: right_answer(name, r) if draw.random() < accuracy else wrong_answer(r)
                for r in records
            }
            write_prediction_file(root / run / MODEL / f"{MODEL}_{name}.xlsx", table, predictions)
    marker.write_text(json.dumps({"wanted": wanted, "rows": rows}))
    return rows


def eval_command(root: Path, run: str, name: str, judge_url: str | None) -> list[str]:
    command = [sys.executable, "-m", "vleval", "eval", "--data", name, "--protocol", PROTOCOL,
               "--pred", str(root / run / MODEL / f"{MODEL}_{name}.xlsx"), "--data-dir", str(root / "data"),
               "--skip-md5-check"]  # fmt: skip
    if name in JUDGED:
        return [*command, "--judge-base-url", str(judge_url)]
    return [*command, "--judge", "none"]


def run_scale(root: Path, sizes: dict[str, int], accuracy: float) -> dict:
    from vleval.datasets.results import read_score, score_record_path
    from vleval.synthetic.judge_server import JudgeServer

    rows = write_inputs(root, sizes, accuracy)
    for run in ("a", "b"):  # results of an earlier run must not be mistaken for this one's
        for path in (root / run / MODEL).glob("*"):
            if path.suffix != ".xlsx":
                path.unlink() if path.is_file() else shutil.rmtree(path)
    src = Path(__file__).resolve().parent.parent / "src"
    path = os.pathsep.join(filter(None, (str(src), os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, PYTHONPATH=path, OPENAI_API_KEY="scale-local-judge")
    start = timed([sys.executable, "-m", "vleval", "--help"], env)
    results: list[BenchmarkResult] = []
    with JudgeServer() as judge:
        for name in sizes:
            a = timed(eval_command(root, "a", name, judge.base_url), env)
            b = timed(eval_command(root, "b", name, judge.base_url), env)
            for which in (a, b):
                if which.returncode != 0:
                    sys.exit(f"vleval eval {name} failed ({which.returncode}): {which.stderr}")
            record = read_score(score_record_path(root / "a" / MODEL / f"{MODEL}_{name}"))
            found = record.intervals.get("headline")
            results.append(
                BenchmarkResult(
                    name, rows[name], a, b, record.headline, [found.low, found.high] if found else []
                )
            )
    report = timed([sys.executable, "-m", "vleval", "report", "--work-dir", str(root / "a"),
                    "--out", str(root / "report" / "report.html")], env)  # fmt: skip
    compare = timed([sys.executable, "-m", "vleval", "compare", str(root / "a" / MODEL), str(root / "b" / MODEL),
                     "--json", str(root / "compare.json")], env)  # fmt: skip
    for what, which in (("report", report), ("compare", compare)):
        if which.returncode not in (0, 1):  # compare: 1 = B worse somewhere is a result, not a failure
            sys.exit(f"vleval {what} failed ({which.returncode}): {which.stderr}")
    return {
        "accuracy": accuracy,
        "process_start": asdict(start),
        "benchmarks": [asdict(r) for r in results],
        "suite_eval_seconds": sum(r.eval_a.seconds for r in results),
        "suite_peak_mib": max([r.eval_a.peak_mib for r in results] + [report.peak_mib, compare.peak_mib]),
        "report": asdict(report),
        "compare": asdict(compare),
    }


def print_table(found: dict) -> None:
    print(f"process start (python -m vleval --help): {found['process_start']['seconds']:.2f} s")
    print(
        f"{'benchmark':<20}{'rows':>7}{'eval s':>9}{'eval B s':>10}{'peak MiB':>10}  {'reference s':<12}score"
    )
    for r in found["benchmarks"]:
        interval = "[{:.2f}, {:.2f}]".format(*r["interval"]) if r["interval"] else ""
        print(
            f"{r['name']:<20}{r['rows']:>7}{r['eval_a']['seconds']:>9.2f}{r['eval_b']['seconds']:>10.2f}"
            f"{r['eval_a']['peak_mib']:>10.0f}  {r['reference_seconds']:<12}{r['headline']:.2f} {interval}"
        )
    print(
        f"{'suite (eval A)':<20}{sum(r['rows'] for r in found['benchmarks']):>7}"
        f"{found['suite_eval_seconds']:>9.2f}{'':>10}{found['suite_peak_mib']:>10.0f}"
    )
    for what in ("report", "compare"):
        print(f"vleval {what}: {found[what]['seconds']:.2f} s, peak {found[what]['peak_mib']:.0f} MiB")


# ==================================================================================================
# reference worker: runs under --python with the VLMEvalKit checkout on sys.path; no vleval imports
# ==================================================================================================
def _stub_missing(names: set[str]) -> None:
    """Empty modules for the top-level packages in ``names`` (VLMEvalKit requirements the reference
    interpreter lacks); any attribute of them is a MagicMock."""
    import importlib.abc
    import importlib.machinery
    import types
    from unittest import mock

    class Stub(types.ModuleType):
        __all__: list[str] = []
        __path__: list[str] = []

        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            value = mock.MagicMock(name=f"{self.__name__}.{attr}")
            setattr(self, attr, value)
            return value

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path, target=None):
            if fullname.split(".")[0] not in names:
                return None
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

        def create_module(self, spec):
            return Stub(spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.append(Finder())


def _import_reference(vlmevalkit: str, stub: bool):
    """``vlmeval.dataset`` without running ``vlmeval/__init__`` (which imports every model wrapper);
    with ``stub``, each missing requirement becomes an empty module, found by trying."""
    import types

    sys.path.insert(0, vlmevalkit)
    missing: set[str] = set()
    if stub:
        _stub_missing(missing)
    for _ in range(100):
        package = types.ModuleType("vlmeval")
        package.__path__ = [str(Path(vlmevalkit) / "vlmeval")]
        sys.modules["vlmeval"] = package
        try:
            import vlmeval.dataset as vk_dataset

            return vk_dataset, sorted(missing)
        except ModuleNotFoundError as exc:
            name = (exc.name or "").split(".")[0]
            if not stub or not name or name in missing or name == "vlmeval":
                raise
            missing.add(name)
            for loaded in [k for k in sys.modules if k == "vlmeval" or k.startswith("vlmeval.")]:
                del sys.modules[loaded]
    raise RuntimeError("VLMEvalKit did not import")


def reference_prediction_copy(vk_dataset, name: str, lmudata: str, pred: str, out: str) -> Path:
    """Prepare the reference to score ``pred`` for benchmark ``name``: its dataset classes accept the
    synthetic ``<lmudata>/<name>.tsv`` (its md5 instead of downloading the real file), and the
    prediction is copied into a fresh ``<out>/<name>`` folder (no judge answers cached by an earlier
    run). Returns the copy, the file to hand to ``evaluate``."""
    import hashlib
    import inspect

    digest = hashlib.md5((Path(lmudata) / f"{name}.tsv").read_bytes()).hexdigest()
    for obj in vars(vk_dataset).values():
        table = getattr(obj, "DATASET_MD5", None)
        if inspect.isclass(obj) and isinstance(table, dict) and name in getattr(obj, "DATASET_URL", {}):
            table[name] = digest
    work = Path(out) / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    copy = work / Path(pred).name
    shutil.copyfile(pred, copy)
    return copy


def _worker(spec_file: str) -> int:

    spec = json.loads(Path(spec_file).read_text())
    os.environ["LMUData"] = spec["lmudata"]
    vk_dataset, stubbed = _import_reference(spec["vlmevalkit"], spec["stub"])
    out = {"stubbed": stubbed, "seconds": {}, "errors": {}}
    for name, pred in spec["datasets"]:
        copy = reference_prediction_copy(vk_dataset, name, spec["lmudata"], pred, spec["out"])
        judge = spec.get("judges", {}).get(name)  # run.py's default judge model, run.py's settings
        settings = (
            {"model": judge, "nproc": 4, "retry": 3} if judge else {"model": "exact_matching", "nproc": 1}
        )
        try:
            dataset = vk_dataset.build_dataset(name)
            started = time.monotonic()
            dataset.evaluate(str(copy), **settings)
            out["seconds"][name] = time.monotonic() - started
        except Exception as exc:  # report it; the table shows the error instead of a time
            out["errors"][name] = f"{type(exc).__name__}: {exc}"[:300]
    Path(spec["result"]).write_text(json.dumps(out))
    return 0


# run.py's (b13a37db) default judge model for the judged benchmarks
REFERENCE_JUDGES = {"MathVista_MINI": "gpt-4o-mini", "MMVet": "gpt-4-turbo", "LLaVABench": "gpt-4-turbo"}


def reference_times(root: Path, names: list[str], python: str, vlmevalkit: Path, stub: bool) -> dict:
    """Run the worker on run A's prediction files; {"seconds": {name: s}, "errors": ..., "stubbed": ...}."""
    from vleval.synthetic.judge_server import JudgeServer

    spec = {
        "vlmevalkit": str(vlmevalkit.resolve()),
        "lmudata": str((root / "data").resolve()),
        "datasets": [[n, str((root / "a" / MODEL / f"{MODEL}_{n}.xlsx").resolve())] for n in names],
        "out": str((root / "reference").resolve()),
        "result": str((root / "reference.json").resolve()),
        "stub": stub,
        "judges": {n: REFERENCE_JUDGES[n] for n in names if n in REFERENCE_JUDGES},
    }
    (root / "reference-spec.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with JudgeServer() as judge:
        env.update(
            OPENAI_API_BASE=judge.chat_url, OPENAI_API_KEY="sk-scale-local-judge", NO_PROXY="127.0.0.1"
        )
        done = subprocess.run([python, str(Path(__file__).resolve()), "--worker", str(root / "reference-spec.json")],
                              env=env, capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        return {"seconds": {}, "errors": {n: done.stderr[-300:] for n in names}, "stubbed": []}
    return json.loads((root / "reference.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the published sizes")
    parser.add_argument("--accuracy", type=float, default=0.7, help="chance a prediction is right")
    parser.add_argument("--benchmarks", nargs="+", default=list(PUBLISHED), choices=list(PUBLISHED))
    parser.add_argument("--work", type=Path, help="folder for inputs and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep --work (or the temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--vlmevalkit", type=Path, help="a VLMEvalKit checkout: time its own scoring too")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the reference worker")
    parser.add_argument("--stub-missing", action="store_true", help="see the module docstring")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if not 0 < args.fraction <= 1 or not 0 <= args.accuracy <= 1:
        parser.error("--fraction must be in (0, 1] and --accuracy in [0, 1]")
    sizes = {name: max(4, round(PUBLISHED[name] * args.fraction)) for name in args.benchmarks}
    root = args.work or Path(tempfile.mkdtemp(prefix="vleval-scale-"))
    try:
        found = run_scale(root, sizes, args.accuracy)
        if args.vlmevalkit:
            names = list(sizes)
            reference = reference_times(root, names, args.python, args.vlmevalkit, args.stub_missing)
            found["reference"] = reference
            for result in found["benchmarks"]:
                name = result["name"]
                if name in reference["seconds"]:
                    result["reference_seconds"] = f"{reference['seconds'][name]:.2f}"
                elif name in reference["errors"]:
                    result["reference_seconds"] = "error"
        print_table(found)
        if args.json:
            args.json.write_text(json.dumps(found, indent=1) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
