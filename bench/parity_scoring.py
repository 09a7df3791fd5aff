"""Scoring parity of the MCQ and Y/N benchmarks of issue 21 with the reference's own ``evaluate``.

For each benchmark and pinned protocol: a synthetic benchmark file (``make_benchmark_tsv``) and a
prediction file (``write_prediction_file``) whose predictions exercise the scorer's edge cases (a bare
letter, a wrong letter, 'The answer is X', the option's text, answers only the judge can read, MME's
image pairs with one question right and one wrong, POPE's 'Yes, ...' and answers that are neither).
The reference scores the file with ``dataset.evaluate`` and run.py's default judge for the protocol,
its OpenAI client pointed at the local stand-in judge server (``OPENAI_API_BASE``); vleval scores the
same file with the same judge rules in process. The tool compares the result tables and each row's
verdict, and with ``--fixtures DIR`` records both the prediction rows and the reference's outputs as
one JSON file per benchmark and protocol (``tests/families/data/``), which
``tests/families/test_reference_scoring.py`` re-checks without the reference.

    PYTHONPATH=src python bench/parity_scoring.py --python /tmp/measure/refpython \\
        --vlmevalkit 2024.12=/tmp/vk-b13a37db --vlmevalkit 2026.08=/tmp/vk-e8e78f05 \\
        --work /tmp/parity-scoring --fixtures tests/families/data

``--python``: an interpreter in which the VLMEvalKit checkout's ``vlmeval.dataset`` imports (see
PARITY.md). Exits 1 when a table or a row differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# benchmark -> synthetic questions (MMBench: with their rotations; MME: images of two questions)
CASES = {
    "MMBench_DEV_CN_V11": 8,
    "RealWorldQA": 16,
    "ScienceQA_TEST": 16,
    "SEEDBench_IMG": 16,
    "SEEDBench2_Plus": 16,
    "MMT-Bench_VAL": 40,  # every meta-task (the reference needs all 32), 8 with two subtasks
    "BLINK": 16,
    "MME": 16,  # every category (the reference needs all 14), two with two images
    "POPE": 20,
}
SEED = 21
MODEL = "Parity-Model"


def records(frame) -> list[dict[str, Any]]:
    """A table's rows as JSON values, floats exact (``to_json`` would round them to 10 digits); a
    missing cell is None."""

    def plain(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and math.isnan(value) else value

    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


# --------------------------------------------------------------------------------------------------
# the predictions: one edge case per row position
# --------------------------------------------------------------------------------------------------
def _options(row: dict[str, Any]) -> dict[str, str]:
    return {c: str(row[c]) for c in "ABCDEFGH" if isinstance(row.get(c), str)}


def mcq_prediction(row: dict[str, Any], k: int) -> str:
    options = _options(row)
    right = str(row["answer"])
    wrong = next(letter for letter in options if letter != right)
    cases = [
        right,  # a bare letter
        wrong,  # a wrong letter
        f"The answer is {right}.",
        options[right],  # the option's text alone
        "I cannot tell from this image.",  # no option: the judge answers Z
        f"{right} or {wrong}",  # two letters: the rules refuse, the judge reads the first it finds
        f"({wrong}) {options[wrong]}",
        f"Final answer: {options[right]}, as the picture shows",  # text inside a sentence: the judge
    ]
    return cases[k % len(cases)]


def yorn_prediction(row: dict[str, Any], k: int) -> str:
    right = str(row["answer"])
    other = "No" if right == "Yes" else "Yes"
    cases = [
        right,
        other,
        f"{right}, that is what the image shows.",
        f"{other.lower()}.",
        "I am not sure.",  # neither: the judge is asked (and cannot read it either)
        "Yes and no.",  # both: neither by rule
        right.upper(),
    ]
    return cases[k % len(cases)]


def predictions_for(name: str, table) -> dict[Any, str]:
    from vleval.datasets.registry import get_benchmark

    pick = yorn_prediction if get_benchmark(name).task_type == "Y/N" else mcq_prediction
    return {row["index"]: pick(row, k) for k, row in enumerate(table.to_dict(orient="records"))}


# --------------------------------------------------------------------------------------------------
# the reference (runs under --python)
# --------------------------------------------------------------------------------------------------
def _worker(spec_file: str) -> int:

    import pandas as pd

    sys.path.insert(0, str(Path(__file__).parent))
    from scale import _import_reference, reference_prediction_copy

    spec = json.loads(Path(spec_file).read_text())
    os.environ["LMUData"] = spec["lmudata"]
    vk_dataset, _ = _import_reference(spec["vlmevalkit"], False)
    out: dict[str, Any] = {}
    for name, pred, judge in spec["datasets"]:
        copy = reference_prediction_copy(vk_dataset, name, spec["lmudata"], pred, spec["out"])
        work = copy.parent
        dataset = vk_dataset.build_dataset(name)
        dataset.evaluate(str(copy), model=judge, nproc=1, retry=3)
        stem = copy.with_suffix("")
        found: dict[str, Any] = {}
        for path in sorted(work.iterdir()):
            if path.suffix == ".csv":
                found["table"] = records(pd.read_csv(path))
            elif path.name.endswith("_result.xlsx") or path.name.endswith("_auxmatch.xlsx"):
                frame = pd.read_excel(path)
                column = "hit" if "hit" in frame.columns else "extracted"
                found["rows"] = {str(i): str(v) for i, v in zip(frame["index"], frame[column], strict=True)}
                found["rows_column"] = column
        found["files"] = sorted(p.name[len(stem.name) :] for p in work.iterdir() if p.name != copy.name)
        out[name] = found
    Path(spec["result"]).write_text(json.dumps(out, default=str))
    return 0


def run_reference(root: Path, python: str, vlmevalkit: Path, jobs: list[tuple[str, Path, str]]) -> dict:
    """The reference's outputs per benchmark, each scored in a fresh worker with its own judge server,
    plus the prompts that server was asked (``judge_prompts``; the client's 'hello' probe left out)."""
    out = {}
    for job in jobs:
        found, prompts = _run_worker(root, python, vlmevalkit, [job])
        out[job[0]] = {**found[job[0]], "judge_prompts": prompts}
    return out


def _run_worker(
    root: Path, python: str, vlmevalkit: Path, jobs: list[tuple[str, Path, str]]
) -> tuple[dict, list[str]]:
    from vleval.synthetic.judge_server import JudgeServer, message_text

    spec = {
        "vlmevalkit": str(vlmevalkit.resolve()),
        "lmudata": str((root / "data").resolve()),
        "datasets": [[n, str(p.resolve()), j] for n, p, j in jobs],
        "out": str((root / "reference").resolve()),
        "result": str((root / "reference.json").resolve()),
    }
    (root / "reference-spec.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "USE_COT", "LMUData")}
    with JudgeServer() as judge:
        env.update(
            OPENAI_API_BASE=judge.chat_url, OPENAI_API_KEY="sk-parity-local-judge", NO_PROXY="127.0.0.1"
        )
        done = subprocess.run([python, str(Path(__file__).resolve()), "--worker", str(root / "reference-spec.json")],
                              env=env, capture_output=True, text=True)  # fmt: skip
        prompts = [message_text(body.get("messages", [])) for body in judge.requests]
    if done.returncode != 0:
        raise SystemExit(f"the reference worker failed:\n{done.stderr[-3000:]}")
    return json.loads((root / "reference.json").read_text()), [p for p in prompts if p != "hello"]


# --------------------------------------------------------------------------------------------------
# vleval, and the comparison
# --------------------------------------------------------------------------------------------------
def vleval_side(name: str, protocol_name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """vleval's table and per-row verdicts for the prediction rows (``rows``, as the fixture keeps them)."""
    import pandas as pd

    from vleval.datasets.registry import get_benchmark
    from vleval.families.base import default_judge, family_of
    from vleval.protocol import get_protocol
    from vleval.synthetic.scripted_judge import stand_in_judge

    card, protocol = get_benchmark(name), get_protocol(protocol_name)
    short = default_judge(protocol, card)
    judge = stand_in_judge(short) if short else None
    scored = family_of(card).score(pd.DataFrame(rows), card, protocol, judge, seed=0)
    table = next(iter(scored.tables.values()))
    frame = scored.outputs[0].content
    column = "hit" if "hit" in frame.columns else "extracted"
    return {
        "table": records(table),
        "rows": {str(i): str(v) for i, v in zip(frame["index"], frame[column], strict=True)},
        "rows_column": column,
        "judge_prompts": [request.prompt for request in judge.requests] if judge else [],
    }


def tables_equal(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], sort_key: str | None) -> bool:
    """Row for row (rows in the reference's set order are matched by ``sort_key``), column for column."""
    if sort_key:
        ours = sorted(ours, key=lambda r: str(r[sort_key]))
        theirs = sorted(theirs, key=lambda r: str(r[sort_key]))
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if a != b:  # floats to the last bit
            return False
    return True


def prediction_rows(pred: Path) -> list[dict[str, Any]]:
    import pandas as pd

    return records(pd.read_excel(pred))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="the reference interpreter")
    parser.add_argument("--vlmevalkit", action="append", help="PROTOCOL=CHECKOUT")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--fixtures", type=Path, help="write the fixtures here")
    parser.add_argument("--benchmarks", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if not (args.python and args.vlmevalkit and args.work):
        parser.error("--python, --vlmevalkit and --work are required")

    from vleval.datasets.loading import load_table
    from vleval.datasets.predictions import write_prediction_file
    from vleval.datasets.registry import get_benchmark
    from vleval.families.base import default_judge
    from vleval.protocol import get_protocol
    from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting

    failed = 0
    for item in args.vlmevalkit:
        protocol_name, _, checkout = item.partition("=")
        root = args.work / protocol_name
        shutil.rmtree(root, ignore_errors=True)
        jobs = []
        for name in args.benchmarks:
            tsv = make_benchmark_tsv(name, root / "data", n=CASES[name], seed=SEED)
            protocol = protocol_accepting(get_protocol(protocol_name), {name: tsv})
            card = get_benchmark(name)
            table = load_table(card, protocol, root=root / "data")
            pred = write_prediction_file(
                root / "pred" / f"{MODEL}_{name}.xlsx", table, predictions_for(name, table)
            )
            jobs.append((name, pred, default_judge(protocol, card) or "exact_matching"))
        reference = run_reference(root, args.python, Path(checkout), jobs)
        for name, pred, judge in jobs:
            rows = prediction_rows(pred)
            ours = vleval_side(name, protocol_name, rows)
            theirs = reference[name]
            key = "split" if "split" in (theirs["table"][0] if theirs["table"] else {}) else None
            same_table = tables_equal(ours["table"], theirs["table"], key)
            same_rows = ours["rows"] == theirs["rows"]
            same_calls = sorted(ours["judge_prompts"]) == sorted(theirs["judge_prompts"])
            failed += not (same_table and same_rows and same_calls)
            print(f"{protocol_name} {name}: table {'==' if same_table else '!='}, rows {'==' if same_rows else '!='}, "
                  f"judge calls {'==' if same_calls else '!='} ({len(rows)} rows, judge {judge}, "
                  f"{len(theirs['judge_prompts'])} calls by the reference)")  # fmt: skip
            if args.fixtures:
                args.fixtures.mkdir(parents=True, exist_ok=True)
                fixture = {
                    "benchmark": name,
                    "protocol": protocol_name,
                    "reference": f"VLMEvalKit {get_protocol(protocol_name).reference_commit} dataset.evaluate, "
                    f"judge {judge} answered by vleval.synthetic.judge_server.rule_based_answer",
                    "rows": rows,
                    "reference_table": theirs["table"],
                    "reference_rows": theirs["rows"],
                    "reference_rows_column": theirs["rows_column"],
                    "reference_files": theirs["files"],
                    "reference_judge_prompts": sorted(theirs["judge_prompts"]),
                }
                path = args.fixtures / f"scoring_{name}_{protocol_name}.json"
                path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1, default=str) + "\n")
    print("scoring parity:", "OK" if not failed else f"{failed} differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
