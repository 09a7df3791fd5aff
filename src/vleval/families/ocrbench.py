"""OCRBench: substring matching, counts per category, final score out of 1000.

Source (open-compass/VLMEvalKit, identical at b13a37db and e8e78f05):
``vlmeval/dataset/image_vqa.py::OCRBench.evaluate``; result file ``{stem}_score.json``.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.errors import DataCorruptError
from vleval.families.base import (
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
from vleval.stats.metrics import PointSum
from vleval.synthetic.images import draw_text
from vleval.synthetic.rows import encode_varied
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
    required_columns = ("index", "prediction", "answer", "category")

    # a point per right row: the Final Score (0-1000) / 10; each group's value is its raw points, its
    # interval in points too, over that group's rows
    metric = PointSum(divisor=10)

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

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """The reference's result keys: 'Text Recognition' gathers its six categories' rows."""
        out: dict[str, list[RowResult]] = {}
        for row in rows:
            if row.category is not None:
                group = "Text Recognition" if row.category in TEXT_RECOGNITION else row.category
                out.setdefault(group, []).append(row)
        return out

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

    # --- synthetic data (a rule-based metric: no judge profile, no stand-in rule)
    def right_answer(self, card: BenchmarkCard, row: dict[str, Any]) -> str:
        """A sentence holding the first gold answer (the rule is a substring match)."""
        return f"It reads {gold_answers(row['answer'], row['index'])[0]}"


FAMILY = OCRBenchFamily()


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks)
# --------------------------------------------------------------------------------------------------
_SYNTHETIC_WORDS = ("hello", "vision", "Tiling", "OCR", "benchmark", "InternVL", "pixel", "token")


def _synthetic_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Drawn text of every category (digits, a LaTeX formula, a total, words), in sizes from tiny to
    wide; every sixth row shares the previous row's image (and so its question and answers)."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        if category == "Digit String Recognition":
            text = str(rng.randint(10_000, 99_999_999))
            answers, question = [text], "what is the number in the image?"
        elif category == HMER:
            a, b = rng.randint(1, 9), rng.randint(2, 5)
            text = f"x^{b} + {a}"
            answers, question = (
                [f"x ^ {{ {b} }} + {a}"],
                "Please write out the expression of the formula in the image using LaTeX format.",
            )
        elif category == "Key Information Extraction":
            total = f"{rng.randint(1, 99)}.{rng.randint(10, 99)}"
            text = f"TOTAL {total}"
            answers, question = [total], "what is the total amount?"
        else:
            word = rng.choice(_SYNTHETIC_WORDS)
            text = word
            answers = [word, word.upper()] if i % 3 == 0 else [word]
            question = "what is written in the image?"
        size = ((320, 80), (896, 120), (120, 400), (24, 18))[i % 4]
        image = encode_varied(draw_text(text, size, font_size=28 if size[0] > 100 else 8), i)
        rows.append(
            {
                "index": i,
                "image": str(i - 1) if i % 6 == 5 and rows else image,
                "question": question,
                "answer": str(answers),
                "category": category,
                "dataset": "synthetic",
            }
        )
        if rows[-1]["image"] != image:  # a shared image keeps the earlier row's text as the truth
            rows[-1]["answer"] = rows[-2]["answer"]
            rows[-1]["question"] = rows[-2]["question"]
    return rows


# a card of this family without a builder here is refused, rather than given another benchmark's rows
SYNTHETIC: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {"OCRBench": _synthetic_rows}
