"""OCRBench: substring matching, counts per category, final score out of 1000.

Source (open-compass/VLMEvalKit, identical at b13a37db and e8e78f05):
``vlmeval/dataset/image_vqa.py::OCRBench.evaluate``; result file ``{stem}_score.json``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.datasets.scoring import EvalResult, require_columns, write_json
from vleval.errors import DataCorruptError
from vleval.protocol import Protocol
from vleval.types import BenchmarkCard, Judge

HMER = "Handwritten Mathematical Expression Recognition"
TEXT_RECOGNITION = (
    "Regular Text Recognition",
    "Irregular Text Recognition",
    "Artistic Text Recognition",
    "Handwriting Recognition",
    "Digit String Recognition",
    "Non-Semantic Text Recognition",
)
CATEGORIES = (
    *TEXT_RECOGNITION,
    "Scene Text-centric VQA",
    "Doc-oriented VQA",
    "Key Information Extraction",
    HMER,
)


def gold_answers(value: Any, index: Any) -> list[str]:
    try:
        answers = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        raise DataCorruptError(
            f"OCRBench: row {index}: 'answer' is not a Python list literal: {value!r}."
        ) from None
    if not isinstance(answers, list | tuple):
        raise DataCorruptError(f"OCRBench: row {index}: 'answer' should be a list of strings, got {value!r}.")
    return [str(a) for a in answers]


def is_hit(prediction: Any, answers: list[str], category: str) -> bool:
    """Any gold answer is a substring of the prediction; HMER ignores all spaces, others ignore case."""
    predict = str(prediction)
    for answer in answers:
        if category == HMER:
            gold = answer.strip().replace("\n", " ").replace(" ", "")
            predict = predict.strip().replace("\n", " ").replace(" ", "")
        else:
            gold = answer.lower().strip().replace("\n", " ")
            predict = predict.lower().strip().replace("\n", " ")
        if gold in predict:
            return True
    return False


def score(
    data: pd.DataFrame,
    card: BenchmarkCard,
    protocol: Protocol,
    judge: Judge | None,
    *,
    stem: Path,
    seed: int = 0,
) -> EvalResult:
    require_columns(data, ("index", "prediction", "answer", "category"), card)
    counts = dict.fromkeys(CATEGORIES, 0)
    hits = []
    for row in data.to_dict(orient="records"):
        category = row["category"]
        if category not in counts:
            raise DataCorruptError(
                f"OCRBench: row {row['index']}: unknown category {category!r}; expected one of {', '.join(CATEGORIES)}."
            )
        hit = is_hit(row["prediction"], gold_answers(row["answer"], row["index"]), category)
        counts[category] += int(hit)
        hits.append(int(hit))
    final = {
        "Text Recognition": sum(counts[c] for c in TEXT_RECOGNITION),
        "Scene Text-centric VQA": counts["Scene Text-centric VQA"],
        "Doc-oriented VQA": counts["Doc-oriented VQA"],
        "Key Information Extraction": counts["Key Information Extraction"],
        HMER: counts[HMER],
    }
    final["Final Score"] = sum(final.values())
    final["Final Score Norm"] = float(final["Final Score"]) / 10
    path = write_json(final, stem.parent / f"{stem.name}_score.json")
    rows = pd.DataFrame({"index": data["index"], "category": data["category"], "hit": hits})
    notes = []
    if len(data) != 1000:
        notes.append(
            f"{len(data)} rows scored: 'Final Score Norm' (= Final Score / 10) assumes the full 1000."
        )
    return EvalResult(
        headline=float(final["Final Score"]),
        headline_name="Final Score (0-1000)",
        tables={"score": pd.DataFrame([final])},
        files=[path],
        rows=rows,
        notes=notes,
    )
