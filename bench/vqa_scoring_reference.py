"""Scoring parity of the open-ended VQA family with the reference's own ``evaluate``.

    python bench/vqa_scoring_reference.py --python /tmp/measure/refpython \\
        --vlmevalkit 2024.12=/tmp/vk-b13a37db --vlmevalkit 2026.08=/tmp/vk-e8e78f05 [--work /tmp/vqa-scoring]

Reads the hand-made prediction rows of ``tests/families/data/vqa_reference.json`` (``cases``: per
benchmark, rows chosen to exercise each metric's edge cases: the relaxed-accuracy tolerance with percent
signs, zeros and texts; ANLS around its 0.5 threshold, whitespace and case; the VQA answer
normalisation of articles, number words, punctuation and contractions over ten annotators' answers),
then, per protocol, runs a worker under ``--python`` with that protocol's VLMEvalKit checkout on
``sys.path`` that

- dumps the rows to ``M_<dataset>.xlsx`` with VLMEvalKit's own ``dump`` (as its inference writes them),
- calls ``ImageVQADataset.evaluate`` on it (the reference's result table, ``<stem>_acc.csv``),
- and, for the per-row scores, the same ``process_line`` + ``hit_calculate`` that ``evaluate`` uses,
  on the rows as ``evaluate`` loads them;

and writes what the reference reported into the same json (``reference``: protocol -> dataset ->
``acc`` (the acc table's one row), ``hits`` (per row) and, where the checkout writes it (e8e78f05),
``results``: the ``eval_*`` columns of ``<stem>_results.xlsx`` as read back). ``tests/families/test_vqa.py`` asserts that
vleval's scoring of the same rows gives these numbers. The worker imports nothing from vleval.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "families" / "data" / "vqa_reference.json"
METHODS = {
    "ChartQA_TEST": "relaxed_accuracy",
    "TextVQA_VAL": "vqa_score",
    "DocVQA_VAL": "anls",
    "InfoVQA_VAL": "anls",
}


def _worker(spec_file: str) -> int:
    spec = json.loads(Path(spec_file).read_text())
    sys.path.insert(0, spec["vlmevalkit"])
    import numpy as np
    import pandas as pd
    from vlmeval.dataset.image_vqa import ImageVQADataset
    from vlmeval.dataset.utils.vqa_eval import hit_calculate, process_line
    from vlmeval.smp import dump, load

    out: dict = {}
    work = Path(spec["work"])
    for name, rows in spec["cases"].items():
        eval_file = work / f"M_{name}.xlsx"
        dump(pd.DataFrame(rows), str(eval_file))
        dataset = ImageVQADataset.__new__(ImageVQADataset)  # evaluate reads only the name
        dataset.dataset_name = name
        dataset.evaluate(str(eval_file))
        acc = pd.read_csv(work / f"M_{name}_acc.csv")
        # the per-row scores exactly as evaluate computes them
        data = load(str(eval_file))
        data["prediction"] = [str(x) for x in data["prediction"]]
        data["answer"] = [str(x) for x in data["answer"]]
        lines = [data.iloc[i] for i in range(len(data))]
        res = [process_line(line, method=METHODS[name]) for line in lines]
        hits = hit_calculate(res, name)
        out[name] = {
            "acc": {str(k): float(v) for k, v in acc.iloc[0].items()},
            "hits": [float(np.float64(h)) for h in hits],
            "files": sorted(p.name for p in work.glob(f"M_{name}_*")),
        }
        detail = work / f"M_{name}_results.xlsx"  # e8e78f05 only: the per-row table, as read back
        if detail.is_file():
            table = pd.read_excel(
                detail, dtype={"eval_gt": str, "eval_pred": str, "eval_match": str}, keep_default_na=False
            )
            out[name]["results"] = {
                column: [float(v) for v in table[column]] if column == "eval_score" else list(table[column])
                for column in ("eval_gt", "eval_pred", "eval_match", "eval_score")
            }
    Path(spec["result"]).write_text(json.dumps(out, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", help="the reference interpreter")
    parser.add_argument("--vlmevalkit", action="append", default=[], help="PROTOCOL=checkout")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if not args.python or not args.vlmevalkit:
        parser.error("--python and at least one --vlmevalkit PROTOCOL=checkout are needed")
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    work_root = args.work or Path(tempfile.mkdtemp(prefix="vqa-scoring-"))
    reference: dict = {}
    for item in args.vlmevalkit:
        protocol, _, checkout = item.partition("=")
        work = work_root / protocol
        work.mkdir(parents=True, exist_ok=True)
        spec = {
            "vlmevalkit": checkout,
            "work": str(work),
            "cases": fixture["cases"],
            "result": str(work / "result.json"),
        }
        spec_file = work / "spec.json"
        spec_file.write_text(json.dumps(spec))
        subprocess.run([args.python, __file__, "--worker", str(spec_file)], check=True, cwd=work)
        reference[protocol] = json.loads((work / "result.json").read_text())
        for name, found in reference[protocol].items():
            print(f"{protocol} {name}: {found['acc']}  files: {', '.join(found['files'])}")
    fixture["reference"] = reference
    FIXTURE.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
