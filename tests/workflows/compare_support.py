"""Helpers for the comparison tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vleval.cli import main
from vleval.datasets.results import read_rows

MODEL = "TinyVL-Qwen2"
SUITE = {"MMStar": 8, "HallusionBench": 8, "OCRBench": 4}
FLIP_MMSTAR = (0, 3, 5)  # rows of MMStar whose verdict B turns around
FLIP_HALLUSION = 0  # position of the HallusionBench row B answers the other way


def _rescore(model_dir: Path, dataset: str, data: Path) -> None:
    pred = model_dir / f"{MODEL}_{dataset}.xlsx"
    args = ["eval", "--data", dataset, "--pred", str(pred), "--judge", "none", "--data-dir", str(data)]
    assert main([*args, "--skip-md5-check"]) == 0


def _hits(model_dir: Path, dataset: str) -> dict[str, float]:
    rows = read_rows(model_dir / f"{MODEL}_{dataset}_rows.jsonl")
    return {str(r.index): r.score for r in rows}


def flip_mmstar(model_dir: Path, data: Path) -> None:
    """B answers FLIP_MMSTAR rows right where A was wrong and wrong where A was right."""
    pred = model_dir / f"{MODEL}_MMStar.xlsx"
    frame = pd.read_excel(pred)
    hits = _hits(model_dir, "MMStar")
    for position in FLIP_MMSTAR:
        answer = frame.loc[position, "answer"]
        right = hits[str(frame.loc[position, "index"])] == 1
        frame.loc[position, "prediction"] = ("B" if answer == "A" else "A") if right else answer
    frame.to_excel(pred, index=False)
    _rescore(model_dir, "MMStar", data)


def flip_hallusion(model_dir: Path, data: Path) -> None:
    pred = model_dir / f"{MODEL}_HallusionBench.xlsx"
    frame = pd.read_excel(pred)
    hits = _hits(model_dir, "HallusionBench")
    answer = frame.loc[FLIP_HALLUSION, "answer"]
    right = hits[str(frame.loc[FLIP_HALLUSION, "index"])] == 1
    frame.loc[FLIP_HALLUSION, "prediction"] = ("No" if answer == "Yes" else "Yes") if right else answer
    frame.to_excel(pred, index=False)
    _rescore(model_dir, "HallusionBench", data)
