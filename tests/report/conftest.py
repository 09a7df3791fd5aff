"""Work directories for the report tests, written by the real writers: prediction files by
``write_prediction_file``, result files by ``evaluate`` (the reference's files and vleval's result
contract). Small hand-made benchmark tables keep the numbers easy to know by heart.

InternVL2_5-8B (published figures from vleval/data/published_scores.csv):
- MMStar: 4 rows, 3 right -> 75.00 (published 62.8, +12.20, flagged); scored with a scripted judge
  recorded as gpt-3.5-turbo-0125 (every row is read by rule, so it is never asked)
- OCRBench: 2 rows, 1 right, 1 failed inference -> Final Score 1 -> 0.10 (published 82.2, flagged)
- HallusionBench: aAcc 50, fAcc 50, qAcc 50 -> 50.00 (published 50.1, -0.10, not flagged); left as a
  VLMEvalKit run would leave it: vleval's _score.json and _rows.jsonl removed, so the report reads the
  reference's _score.csv and _auxmatch.xlsx
- MMMU_DEV_VAL: validation 1 of 2 right (50.00) in ``work`` (direct), 2 of 2 (100.00) in ``work_cot``
  -> best of both = 100.00
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import evaluate
from vleval.protocol import get_protocol
from vleval.synthetic.scripted_judge import ScriptedJudge

MODEL = "InternVL2_5-8B"
PROTOCOL = get_protocol("2024.12")
NOT_ASKED = "the scripted judge is never asked: every prediction here is read by rule"

MMSTAR_ROWS = [
    # index, question, A, B, C, D, answer, category, prediction
    (1, "What colour is the square?", "red", "blue", "green", "yellow", "A", "coarse perception", "A"),
    (2, "How many circles?", "1", "2", "3", "4", "C", "fine-grained perception", "The answer is C"),
    (3, "Which shape is largest?", "circle", "square", "star", "line", "B", "coarse perception", "B. square"),
    (4, "What is written <b>here</b>?", "cat", "dog", "cow", "pig", "D", "math", "I think A"),
]


def score(model_dir: Path, name: str, table: pd.DataFrame, predictions: dict, judge=None) -> None:
    pred = write_prediction_file(model_dir / f"{MODEL}_{name}.xlsx", table, predictions)
    evaluate(get_benchmark(name), PROTOCOL, pred, judge, table=table)


def write_run_json(model_dir: Path, cot: bool) -> None:
    """run.json through the one writer (``vleval.workdir.write_manifest``), with the sections the report
    reads."""
    from vleval.types import ManifestProtocol, RunManifest
    from vleval.workdir import write_manifest

    write_manifest(
        model_dir,
        RunManifest(
            command=["vleval", "run", "..."],
            versions={"vleval": "0.1.0", "torch": "2.13.0"},
            protocol=ManifestProtocol(name="2024.12", reference_commit="b13a37db"),
            settings={"cot": cot, "judge": None, "judge_base_url": None},
        ),
    )


def write_mmstar(model_dir: Path) -> None:
    table = pd.DataFrame(
        [
            {"index": i, "question": q, "A": a, "B": b, "C": c, "D": d, "answer": ans, "category": cat,
             "l2-category": "perception"}
            for i, q, a, b, c, d, ans, cat, _ in MMSTAR_ROWS
        ]
    )  # fmt: skip
    judge = ScriptedJudge(NOT_ASKED, short_name="chatgpt-0125", model="gpt-3.5-turbo-0125")
    score(model_dir, "MMStar", table, {row[0]: row[-1] for row in MMSTAR_ROWS}, judge)
    assert not judge.batches
    stem = model_dir / f"{MODEL}_MMStar"
    (stem.with_name(stem.name + "_prompts.jsonl")).write_text(  # as `vleval run --save-prompts` writes it
        "".join(
            json.dumps(
                {
                    "index": i,
                    "prompt": "<|im_start|>user\n<img>" + "<IMG_CONTEXT>" * 512 + f"</img>\n{q}",
                    "tiles": [2],
                }
            )
            + "\n"
            for i, q, *_ in MMSTAR_ROWS
        )  # fmt: skip
    )


def write_ocrbench(model_dir: Path) -> None:
    table = pd.DataFrame(
        [
            {
                "index": 0,
                "question": "what text?",
                "answer": "['hello']",
                "category": "Regular Text Recognition",
            },
            {"index": 1, "question": "what text?", "answer": "['world']", "category": "Doc-oriented VQA"},
        ]
    )
    score(
        model_dir, "OCRBench", table, {0: "hello", 1: "Failed to obtain answer: RuntimeError out of memory"}
    )


def write_hallusion(model_dir: Path) -> None:
    # <a>_<b>_<c>_<set>_<figure>_<question>: two figures of one set, one question each
    table = pd.DataFrame(
        [
            {"index": "VD_figure_x_0_0_0", "question": "Is it red?", "answer": "Yes", "category": "VD",
             "l2-category": "figure"},
            {"index": "VD_figure_x_0_1_1", "question": "Is it blue?", "answer": "No", "category": "VD",
             "l2-category": "figure"},
        ]
    )  # fmt: skip
    score(model_dir, "HallusionBench", table, {"VD_figure_x_0_0_0": "Yes", "VD_figure_x_0_1_1": "Yes"})
    stem = model_dir / f"{MODEL}_HallusionBench"
    for suffix in ("_score.json", "_rows.jsonl"):  # as a VLMEvalKit run leaves it
        stem.with_name(stem.name + suffix).unlink()


def write_mmmu(model_dir: Path, hits: tuple[int, int]) -> None:
    rows = [("dev_Art_1", "dev", 1)] + [(f"validation_Art_{k}", "validation", h) for k, h in enumerate(hits)]
    table = pd.DataFrame(
        [
            {"index": i, "question": f"q {i}", "A": "x", "B": "y", "answer": "A", "split": split, "category": "Art"}
            for i, split, _ in rows
        ]
    )  # fmt: skip
    judge = ScriptedJudge(NOT_ASKED, short_name="chatgpt-0125", model="gpt-3.5-turbo-0125")
    score(model_dir, "MMMU_DEV_VAL", table, {i: "A" if h else "B" for i, _, h in rows}, judge)
    assert not judge.batches


@pytest.fixture
def work_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(direct work dir with four benchmarks, CoT work dir with MMMU only)."""
    direct = tmp_path / "work" / MODEL
    cot = tmp_path / "work_cot" / MODEL
    direct.mkdir(parents=True)
    cot.mkdir(parents=True)
    write_run_json(direct, cot=False)
    write_run_json(cot, cot=True)
    write_mmstar(direct)
    write_ocrbench(direct)
    write_hallusion(direct)
    write_mmmu(direct, (1, 0))
    write_mmmu(cot, (1, 1))
    return direct.parent, cot.parent
