"""CRPE_EXIST / CRPE_RELATION: rule-based, per row (2024.12) or per block of 4 rotations (2026.08).

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/crpe.py::is_correct`` (same at both
commits; its first parameter is the gold answer despite its name) and
``vlmeval/dataset/image_vqa.py::CRPE.evaluate`` (b13a37db: each row alone; e8e78f05: consecutive blocks
of 4 rows, all must be right: Quirk.CRPE_CIRCULAR_BLOCKS). Result file ``{stem}_score.json``, fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vleval.errors import DataCorruptError
from vleval.families.base import (
    HEADLINE,
    BenchmarkFamily,
    ReferenceOutput,
    Scored,
    group_hits,
    number,
    plain_index,
    read_json_object,
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.core import RowSums, share
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

    def aggregate(self, rows: Sequence[RowResult]) -> dict[str, float]:
        """Accuracy over units: a block of 4 rotations counts only if all are right (2026.08)."""
        units: dict[str, list[bool]] = {}
        for row in rows:
            units.setdefault(row.unit, []).append(row.score == 1)
        if not units:
            return {HEADLINE: float("nan")}
        return {HEADLINE: float(np.mean([all(v) for v in units.values()])) * 100}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """``aggregate`` as sums: (unit right, 1) on each unit's first row."""
        return {HEADLINE: share(*group_hits(rows, [row.unit for row in rows]))}

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


FAMILY = CRPEFamily()
