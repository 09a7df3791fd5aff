"""A hand-built work directory in the reference layout, with numbers the tests know by heart.

InternVL2_5-8B (published figures from vleval/data/published_scores.csv):
- MMStar: 4 rows, 3 hits -> _acc.csv Overall 0.75 -> 75.00 (published 62.8, +12.20, flagged)
- OCRBench: Final Score 822 -> 82.20 (published 822/10 = 82.2, +0.00, not flagged)
- HallusionBench: aAcc 50, fAcc 40, qAcc 60 -> 50.00 (published 50.1, -0.10, not flagged)
- MMMU_DEV_VAL: direct run validation 0.5 (50.00) in ``work``, CoT run 0.58 (58.00) in ``work_cot``
  -> best of both = 58.00 (published 56.0, +2.00, flagged)
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

MODEL = "InternVL2_5-8B"

MMSTAR_ROWS = [
    # index, question, A, B, C, D, answer, category, prediction, extracted, hit
    (
        1,
        "What colour is the square?",
        "red",
        "blue",
        "green",
        "yellow",
        "A",
        "coarse perception",
        "A",
        "A",
        1,
    ),
    (2, "How many circles?", "1", "2", "3", "4", "C", "fine-grained perception", "The answer is C", "C", 1),
    (
        3,
        "Which shape is largest?",
        "circle",
        "square",
        "star",
        "line",
        "B",
        "coarse perception",
        "B. square",
        "B",
        1,
    ),
    (4, "What is written <b>here</b>?", "cat", "dog", "cow", "pig", "D", "math", "I think A", "A", 0),
]


def _xlsx(path: Path, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_excel(path, index=False)


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_run_json(model_dir: Path, cot: bool) -> None:
    (model_dir / "run.json").write_text(
        json.dumps(
            {
                "command": "vleval run ...",
                "protocol": "2024.12",
                "versions": {"vleval": "0.1.0", "torch": "2.13.0"},
                "settings": {"cot": cot, "judge": None},
            }
        )
    )


def write_mmstar(model_dir: Path) -> None:
    stem = model_dir / f"{MODEL}_MMStar"
    _xlsx(
        stem.with_suffix(".xlsx"),
        [
            {
                "index": i,
                "question": q,
                "A": a,
                "B": b,
                "C": c,
                "D": d,
                "answer": ans,
                "category": cat,
                "l2-category": "perception",
                "prediction": pred,
            }
            for i, q, a, b, c, d, ans, cat, pred, _x, _h in MMSTAR_ROWS
        ],
    )
    pd.DataFrame(
        [
            {
                "split": "none",
                "Overall": 0.75,
                "perception": 0.75,
                "coarse perception": 1.0,
                "fine-grained perception": 1.0,
                "math": 0.0,
            }
        ]
    ).to_csv(stem.with_name(stem.name + "_acc.csv"), index=False)
    _jsonl(
        stem.with_name(stem.name + "_rows.jsonl"),
        [{"index": i, "extracted": x, "hit": h, "log": f"judge said {x}"} for i, *_r, x, h in MMSTAR_ROWS],
    )
    _jsonl(
        stem.with_name(stem.name + "_prompts.jsonl"),
        [
            {
                "index": i,
                "prompt": "<|im_start|>user\n<img>" + "<IMG_CONTEXT>" * 512 + f"</img>\n{q}",
                "tiles": [2],
            }
            for i, q, *_r in MMSTAR_ROWS
        ],
    )
    (stem.with_name(stem.name + "_score.json")).write_text(
        json.dumps(
            {
                "headline": 0.75,
                "headline_name": "Overall",
                "protocol": "2024.12",
                "judge": "gpt-3.5-turbo-0125",
            }
        )
    )


def write_ocrbench(model_dir: Path) -> None:
    stem = model_dir / f"{MODEL}_OCRBench"
    _xlsx(
        stem.with_suffix(".xlsx"),
        [
            {
                "index": 0,
                "question": "what text?",
                "answer": "['hello']",
                "category": "Regular Text Recognition",
                "prediction": "hello",
            },
            {
                "index": 1,
                "question": "what text?",
                "answer": "['world']",
                "category": "Doc-oriented VQA",
                "prediction": "Failed to obtain answer: RuntimeError out of memory",
            },
        ],
    )
    stem.with_name(stem.name + "_score.json").write_text(
        json.dumps(
            {
                "Text Recognition": 250,
                "Scene Text-centric VQA": 170,
                "Doc-oriented VQA": 160,
                "Key Information Extraction": 160,
                "Handwritten Mathematical Expression Recognition": 82,
                "Final Score": 822,
                "Final Score Norm": 82.2,
            }
        )
    )
    _jsonl(stem.with_name(stem.name + "_rows.jsonl"), [{"index": 0, "hit": True}, {"index": 1, "hit": False}])


def write_hallusion(model_dir: Path) -> None:
    stem = model_dir / f"{MODEL}_HallusionBench"
    _xlsx(
        stem.with_suffix(".xlsx"),
        [
            {
                "index": "VD_0_0_0",
                "question": "Is it red?",
                "answer": "Yes",
                "category": "VD",
                "prediction": "Yes",
            },
            {
                "index": "VD_0_0_1",
                "question": "Is it blue?",
                "answer": "No",
                "category": "VD",
                "prediction": "Yes",
            },
        ],
    )
    pd.DataFrame(
        [
            {"split": "Overall", "aAcc": 50.0, "fAcc": 40.0, "qAcc": 60.0},
            {"split": "VD", "aAcc": 50.0, "fAcc": 40.0, "qAcc": 60.0},
        ]
    ).to_csv(stem.with_name(stem.name + "_score.csv"), index=False)
    # no _rows.jsonl: verdicts come from the reference's auxmatch file
    _xlsx(
        stem.with_name(stem.name + "_auxmatch.xlsx"),
        [
            {"index": "VD_0_0_0", "extracted": "Yes", "score": 1},
            {"index": "VD_0_0_1", "extracted": "Yes", "score": 0},
        ],
    )


def write_mmmu(model_dir: Path, validation: float, hits: tuple[int, int]) -> None:
    stem = model_dir / f"{MODEL}_MMMU_DEV_VAL"
    _xlsx(
        stem.with_suffix(".xlsx"),
        [
            {
                "index": f"validation_{k}",
                "question": f"q{k}",
                "A": "x",
                "B": "y",
                "answer": "A",
                "split": "validation",
                "category": "Art",
                "prediction": "A" if h else "B",
            }
            for k, h in enumerate(hits)
        ],
    )
    pd.DataFrame(
        [
            {"split": "dev", "Overall": 0.9, "Art": 0.9},
            {"split": "validation", "Overall": validation, "Art": validation},
        ]
    ).to_csv(stem.with_name(stem.name + "_acc.csv"), index=False)
    _jsonl(
        stem.with_name(stem.name + "_rows.jsonl"),
        [
            {"index": f"validation_{k}", "extracted": "A" if h else "B", "hit": bool(h)}
            for k, h in enumerate(hits)
        ],
    )


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
    write_mmmu(direct, 0.5, (1, 0))
    write_mmmu(cot, 0.58, (1, 1))
    return direct.parent, cot.parent
