"""Published InternVL2.5 and InternVL3 scores shipped with vleval (``vleval/data/published_scores.csv``).

The file holds one figure per model x benchmark, on the 0-100 scale the report compares against
(OCRBench's 0-1000 Final Score is divided by 10, as the reference's ``Final Score Norm`` does). It is
derived from the project's collected figures (the per-row sources in ``data/published_scores.csv``): where
several publications print a value for the same cell, the InternVL2.5 report (arXiv 2412.05271) is
preferred, then the OpenCompass leaderboard as copied into the HF model cards, then the VLMEvalKit
paper; the other printed values are kept in ``alternatives`` with their source.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class PublishedScore:
    model: str
    benchmark: str
    score: float  # 0-100
    as_printed: str  # the figure as the source prints it (OCRBench: out of 1000)
    printed_scale: str
    metric: str  # what the number measures, per the source
    cot: str  # what the source says about chain-of-thought (MMMU: best of direct and CoT)
    source: str  # publication, table and where it was read
    alternatives: str = ""  # other published values for the same cell, with their sources

    @property
    def best_of_direct_and_cot(self) -> bool:
        return "max(direct, CoT)" in self.cot


PublishedTable = dict[tuple[str, str], PublishedScore]


def load_published() -> PublishedTable:
    """All published scores keyed by (canonical model name, benchmark name)."""
    text = resources.files("vleval").joinpath("data/published_scores.csv").read_text(encoding="utf-8")
    table: PublishedTable = {}
    for row in csv.DictReader(io.StringIO(text)):
        entry = PublishedScore(
            model=row["model"],
            benchmark=row["benchmark"],
            score=float(row["score"]),
            as_printed=row["as_printed"],
            printed_scale=row["printed_scale"],
            metric=row["metric"],
            cot=row["cot"],
            source=row["source"],
            alternatives=row.get("alternatives", ""),
        )
        table[(entry.model, entry.benchmark)] = entry
    return table


def canonical_model_name(name: str) -> str:
    """``InternVL2-5-8B``, ``internvl2_5-8b-mpo`` -> ``InternVL2_5-8B``, ``InternVL2_5-8B-MPO``.

    Names that are not InternVL2.5 checkpoints (a fine-tuned or tiny model) are returned unchanged.
    """
    match = re.fullmatch(r"(?i)internvl2[_-]5-(\d+)b(-mpo)?", name.strip())
    if not match:
        return name
    return f"InternVL2_5-{match.group(1)}B" + ("-MPO" if match.group(2) else "")


def published_for(table: PublishedTable, model: str, benchmark: str) -> PublishedScore | None:
    return table.get((canonical_model_name(model), benchmark))
