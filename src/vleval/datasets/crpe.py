"""CRPE_EXIST / CRPE_RELATION: rule-based, per row (2024.12) or per block of 4 rotations (2026.08).

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/crpe.py::is_correct`` (same at both
commits; its first parameter is the gold answer despite its name) and
``vlmeval/dataset/image_vqa.py::CRPE.evaluate`` (b13a37db: each row alone; e8e78f05: consecutive blocks
of 4 rows, all must be right: Quirk.CRPE_CIRCULAR_BLOCKS). Result file ``{stem}_score.json``, fractions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vleval.datasets.scoring import EvalResult, require_columns, write_json
from vleval.errors import DataCorruptError
from vleval.protocol import Protocol, Quirk
from vleval.types import BenchmarkCard, Judge

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
    path = write_json(final, stem.parent / f"{stem.name}_score.json")
    per_row = pd.DataFrame(
        {"index": data["index"], "category": data["category"], "answer": data["answer"], "hit": hits}
    )
    per_row["block"] = [i // size for i in range(len(rows))]
    return EvalResult(
        headline=final["total"],
        headline_name="total (fraction)" + (" of blocks of 4" if size == BLOCK else " of rows"),
        tables={"score": pd.DataFrame([final])},
        files=[path],
        rows=per_row,
    )
