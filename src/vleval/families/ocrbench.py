"""OCRBench: substring matching, counts per category, final score out of 1000.

Source (open-compass/VLMEvalKit, identical at b13a37db and e8e78f05):
``vlmeval/dataset/image_vqa.py::OCRBench.evaluate``; result file ``{stem}_score.json``.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.errors import DataCorruptError
from vleval.families.base import (
    HEADLINE,
    OPENXLAB,
    BenchmarkFamily,
    ReferenceOutput,
    Scored,
    number,
    plain_index,
    read_json_object,
    reference_record,
)
from vleval.protocol import Protocol
from vleval.stats.core import RowSums
from vleval.types import BenchmarkCard, Judge, PromptStyle, RowResult, ScoreRecord

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
# the reference's result keys besides the final score (Text Recognition sums six categories)
GROUPS = (
    "Text Recognition",
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


def _points(rows: Sequence[RowResult]) -> np.ndarray:
    """One column: 1 for each right row (a point of the Final Score)."""
    return np.asarray([[float(r.score == 1)] for r in rows]).reshape(len(rows), 1)


# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_vqa.py``;
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="OCRBench",
        url=f"{OPENXLAB}/VLMEval/OCRBench.tsv",
        md5="e953d98a987cc6e26ef717b61260b778",
        task_type="VQA",
        family="ocrbench",
        max_tiles=24,
        required_columns=("index", "question", "image", "answer", "category"),
        description="OCRBench: substring match, final score out of 1000.",
        prompt=PromptStyle(vqa="short", mpo_without_cot=True),
    ),
)


class OCRBenchFamily(BenchmarkFamily):
    name = "ocrbench"
    scale = "Final Score / 10 (0-100)"
    listing_order = 40
    headline_name = "Final Score / 10"
    headline_unit = "Final Score (0-1000) / 10, the reference's 'Final Score Norm'"
    category_unit = "points"
    required_columns = ("index", "prediction", "answer", "category")

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        return ["_score.json"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        counts = dict.fromkeys(CATEGORIES, 0)
        rows = []
        for row in data.to_dict(orient="records"):
            category = row["category"]
            if category not in counts:
                raise DataCorruptError(
                    f"OCRBench: row {row['index']}: unknown category {category!r}; expected one of {', '.join(CATEGORIES)}."
                )
            hit = is_hit(row["prediction"], gold_answers(row["answer"], row["index"]), category)
            counts[category] += int(hit)
            rows.append(
                RowResult(
                    index=plain_index(row["index"]),
                    unit=str(row["index"]),
                    score=float(hit),
                    decided_by="rule",
                    answer=row["answer"],
                    prediction=str(row["prediction"]),
                    category=category,
                )
            )
        final = {
            "Text Recognition": sum(counts[c] for c in TEXT_RECOGNITION),
            "Scene Text-centric VQA": counts["Scene Text-centric VQA"],
            "Doc-oriented VQA": counts["Doc-oriented VQA"],
            "Key Information Extraction": counts["Key Information Extraction"],
            HMER: counts[HMER],
        }
        final["Final Score"] = sum(final.values())
        final["Final Score Norm"] = float(final["Final Score"]) / 10
        notes = []
        if len(data) != 1000:
            notes.append(
                f"{len(data)} rows scored: 'Final Score Norm' (= Final Score / 10) assumes the full 1000."
            )
        return Scored(
            outputs=[ReferenceOutput("_score.json", final)],
            rows=rows,
            headline=float(final["Final Score"]) / 10,
            headline_name=self.headline_name,
            tables={"score": pd.DataFrame([final])},
            native={"Final Score": float(final["Final Score"])},
            metrics={"Final Score Norm": final["Final Score Norm"]},
            categories={g: float(final[g]) for g in GROUPS},
            notes=notes,
        )

    def aggregate(self, rows: Sequence[RowResult]) -> dict[str, float]:
        return {HEADLINE: sum(r.score == 1 for r in rows) / 10}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """``aggregate`` as sums: a point per right row, the Final Score / 10."""
        return {HEADLINE: RowSums(_points(rows), lambda sums: sums[:, 0] / 10, np.ones((len(rows), 1)))}

    def category_sums(self, rows: Sequence[RowResult], protocol: Protocol) -> dict[str, RowSums]:
        """``category_value`` as sums: the group's points (right rows), zero outside the group."""
        points = _points(rows)
        position = {id(row): i for i, row in enumerate(rows)}
        out = {}
        for name, members in self.category_rows(rows).items():
            mask = np.zeros(len(rows))
            mask[[position[id(row)] for row in members]] = 1.0
            out[name] = RowSums(points * mask[:, None], lambda sums: sums[:, 0], mask[:, None])
        return out

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """The reference's result keys: 'Text Recognition' gathers its six categories' rows."""
        out: dict[str, list[RowResult]] = {}
        for row in rows:
            if row.category is not None:
                group = "Text Recognition" if row.category in TEXT_RECOGNITION else row.category
                out.setdefault(group, []).append(row)
        return out

    def category_value(self, rows: Sequence[RowResult], protocol: Protocol) -> float | None:
        """Raw points (right rows) of the group; its interval is in points too, over that group's rows
        (a fixed number of rows, so it is the row count times the interval of its share)."""
        return float(sum(r.score == 1 for r in rows))

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_score.json")
        data = read_json_object(path)
        final = number(data.get("Final Score")) if data else None
        if data is None or final is None:
            return None
        return reference_record(
            self,
            stem,
            path,
            headline=final / 10,
            headline_name=self.headline_name,
            native={"Final Score": final},
            categories={g: v for g in GROUPS if (v := number(data.get(g))) is not None},
        )


FAMILY = OCRBenchFamily()
