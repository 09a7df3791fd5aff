"""CRPE_EXIST / CRPE_RELATION: rule-based, per row (2024.12) or per block of 4 rotations (2026.08).

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/crpe.py::is_correct`` (same at both
commits; its first parameter is the gold answer despite its name) and
``vlmeval/dataset/image_vqa.py::CRPE.evaluate`` (b13a37db: each row alone; e8e78f05: consecutive blocks
of 4 rows, all must be right: Quirk.CRPE_CIRCULAR_BLOCKS). Result file ``{stem}_score.json``, fractions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.errors import DataCorruptError
from vleval.families.base import (
    BenchmarkFamily,
    ReferenceOutput,
    Scored,
    number,
    plain_index,
    read_json_object,
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.core import UNIT
from vleval.stats.metrics import ShareRight
from vleval.synthetic.images import COLOURS
from vleval.synthetic.rows import LETTERS, shape_image
from vleval.types import BenchmarkCard, Judge, PromptStyle, RowResult, ScoreRecord

CATEGORIES = ("exist", "subject", "predicate", "object")
BLOCK = 4


def is_correct(gold: str, pred: str, protocol: Protocol) -> bool:
    """A one-letter prediction or one starting with A-D is compared by first letter; otherwise the
    gold text after its 4-character '(X) ' prefix must occur in the prediction (case-insensitive).
    Quirk.CRPE_SWAPPED_ARGS: a gold answer of 4 characters or fewer leaves an empty text, which occurs
    in every prediction. Without it (vleval-1) an empty gold text matches nothing."""
    if len(pred) == 1 or pred[:1] in ("A", "B", "C", "D"):
        return pred[:1] == gold[:1]
    tail = gold[4:].lower()
    if not tail and not protocol.has(Quirk.CRPE_SWAPPED_ARGS):
        return False
    return tail in pred.lower()


CRPE_HF = "https://huggingface.co/datasets/petter12321/crpe_vlmevalkit/resolve/main"

# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_vqa.py``;
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="CRPE_EXIST",
        url=f"{CRPE_HF}/CRPE_EXIST.tsv",
        md5="315584e23ac1ff7f8719ed3b7ad90f08",
        task_type="VQA",
        family="crpe",
        required_columns=("index", "question", "image", "answer", "category"),
        description="CRPE existence questions (blocks of 4 circular variants).",
        prompt=PromptStyle(vqa="verbatim", mpo_postprocess=True),
    ),
    BenchmarkCard(
        name="CRPE_RELATION",
        url=f"{CRPE_HF}/CRPE_RELATION.tsv",
        md5="bad7094cde0b572288f4b119c2d0c656",
        task_type="VQA",
        family="crpe",
        required_columns=("index", "question", "image", "answer", "category"),
        description="CRPE relation questions: subject, predicate, object.",
        prompt=PromptStyle(vqa="verbatim", mpo_postprocess=True),
    ),
)


class CRPEFamily(BenchmarkFamily):
    name = "crpe"
    listing_order = 70
    headline_name = "total accuracy"
    headline_unit = "percent (the reference's total fraction x 100; per question under 2026.08)"
    required_columns = ("index", "prediction", "answer", "category")

    # the share of right units: a block of 4 rotations counts only if all are right (2026.08), a row
    # elsewhere
    metric = ShareRight(over=UNIT)

    def question_keys(self, table: pd.DataFrame, card: BenchmarkCard, protocol: Protocol) -> list[str]:
        """Each block of 4 consecutive rows (one question's rotations) is one question, under every
        protocol: 2026.08 scores the block together, and a subset then holds the same questions under
        2024.12 (which scores the rows one by one)."""
        return [str(position // BLOCK) for position in range(len(table))]

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        return ["_score.json"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        rows = data.to_dict(orient="records")
        for row in rows:
            if row["category"] not in CATEGORIES:
                raise DataCorruptError(
                    f"{card.name}: row {row['index']}: unknown category {row['category']!r}; "
                    f"expected one of {', '.join(CATEGORIES)}."
                )
        hits = [int(is_correct(str(r["answer"]), str(r["prediction"]), protocol)) for r in rows]
        size = BLOCK if protocol.has(Quirk.CRPE_CIRCULAR_BLOCKS) else 1
        if len(rows) % size:
            raise DataCorruptError(
                f"{card.name}: {len(rows)} rows is not a multiple of {size}; under protocol {protocol.name} the "
                f"rows come in consecutive blocks of {size} rotations of one question."
            )
        right = dict.fromkeys((*CATEGORIES, "total"), 0)
        seen = dict.fromkeys((*CATEGORIES, "total"), 0)
        for start in range(0, len(rows), size):
            block = hits[start : start + size]
            # the reference stops at the first wrong row and takes the category from the row it stopped at
            stop = block.index(0) if 0 in block else size - 1
            category = rows[start + stop]["category"]
            ok = all(block)
            right[category] += int(ok)
            right["total"] += int(ok)
            seen[category] += 1
            seen["total"] += 1
        final = {c: (right[c] / seen[c] if seen[c] else None) for c in (*CATEGORIES, "total")}
        results = [
            RowResult(
                index=plain_index(row["index"]),
                unit=str(i // size) if size > 1 else str(row["index"]),
                score=float(hit),
                decided_by="rule",
                answer=row["answer"],
                prediction=str(row["prediction"]),
                category=str(row["category"]),
            )
            for i, (row, hit) in enumerate(zip(rows, hits, strict=True))
        ]
        total = final["total"]
        return Scored(
            outputs=[ReferenceOutput("_score.json", final)],
            rows=results,
            headline=None if total is None else total * 100,
            headline_name=self.headline_name + (" (blocks of 4)" if size == BLOCK else ""),
            tables={"score": pd.DataFrame([final])},
            native={"total (fraction)": total} if total is not None else {},
            categories={c: v * 100 for c in CATEGORIES if (v := final[c]) is not None},
        )

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """Each unit (block of rotations, or row) counts for the category of the row the reference
        stopped at: its first wrong row, else its last (``score``); all of its rows go to that category."""
        units: dict[str, list[RowResult]] = {}
        for row in rows:
            units.setdefault(row.unit, []).append(row)
        out: dict[str, list[RowResult]] = {}
        for members in units.values():
            stop = next((r for r in members if r.score != 1), members[-1])
            if stop.category is not None:
                out.setdefault(stop.category, []).extend(members)
        return out

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_score.json")
        data = read_json_object(path)
        total = number(data.get("total")) if data else None
        if data is None or total is None:
            return None
        return reference_record(
            self,
            stem,
            path,
            headline=total * 100,
            headline_name=self.headline_name,
            native={"total (fraction)": total},
            categories={c: v * 100 for c in CATEGORIES if (v := number(data.get(c))) is not None},
        )

    # --- synthetic data (a rule-based metric: no judge profile, no stand-in rule)
    def synthetic_rows(self, card: BenchmarkCard, rng: random.Random, n: int) -> list[dict[str, Any]]:
        categories = _SYNTHETIC_CATEGORIES.get(card.name)
        return _synthetic_rows(rng, n, categories) if categories else super().synthetic_rows(card, rng, n)


FAMILY = CRPEFamily()


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks)
# --------------------------------------------------------------------------------------------------
SYNTHETIC_INSTRUCTION = "Answer with the option's letter from the given choices directly."
_SYNTHETIC_CATEGORIES = {"CRPE_EXIST": CATEGORIES[:1], "CRPE_RELATION": CATEGORIES[1:]}


def _synthetic_rows(rng: random.Random, n: int, categories: tuple[str, ...]) -> list[dict[str, Any]]:
    """Blocks of 4 consecutive rows: one question with its options rotated (the circular variants).

    Row format follows the official CRPE files (options as 'A. text' lines in the question, the
    letter as the answer); that the VLMEvalKit TSVs keep exactly this text is UNVERIFIED."""
    rows = []
    for q in range(n):
        image, drawn = shape_image(rng, q)
        category = categories[q % len(categories)]
        colour, shape = drawn[0]
        if category == "exist":
            stem, right = "Which of the following objects is in the image?", f"a {colour} {shape}"
            wrong = [f"a {c} {shape}" for c in COLOURS if c != colour][:3]
        else:
            stem = f"What is the {category} of the relation between the shapes?"
            right = {"subject": shape, "predicate": "next to", "object": drawn[1][1]}[category]
            wrong = [w for w in ("far from", "above", "a dog", "a tree") if w != right][:3]
        options = [right, *wrong]
        rng.shuffle(options)
        first_index = q * BLOCK
        for rotation in range(BLOCK):
            rotated = options[rotation:] + options[:rotation]
            letter = LETTERS[rotated.index(right)]
            listed = "\n".join(f"{LETTERS[k]}. {text}" for k, text in enumerate(rotated))
            rows.append(
                {
                    "index": first_index + rotation,
                    "question": f"{stem}\n{listed}\n{SYNTHETIC_INSTRUCTION}",
                    "answer": letter,
                    "category": category,
                    "image": image if rotation == 0 else str(first_index),
                }
            )
    return rows
