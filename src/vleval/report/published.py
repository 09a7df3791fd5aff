"""Published InternVL2.5, InternVL3 and InternVL3.5 scores shipped with vleval
(``vleval/data/published_scores.csv``).

The file holds one figure per model x benchmark, on the 0-100 scale the report compares against
(OCRBench's 0-1000 Final Score is divided by 10, as the reference's ``Final Score Norm`` does). It is
derived from the project's collected figures (the per-row sources in ``data/published_scores.csv``): where
several publications print a value for the same cell, the InternVL2.5 report (arXiv 2412.05271) is
preferred, then the OpenCompass leaderboard as copied into the HF model cards, then the VLMEvalKit
paper; the other printed values are kept in ``alternatives`` with their source. InternVL3 and InternVL3.5
figures come from their reports (arXiv 2504.10479, 2508.18265), keyed by the VLMEvalKit names of the cards.

A figure the sources say was produced in thinking mode (``cot`` starting with ``thinking mode``: the
InternVL3.5 report's reasoning table) is also the figure of the card's ``-Thinking`` entry, the same
checkpoint run the way the figure was produced.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

from vleval.stats.verdict import PUBLISHED_THINKING


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

    @property
    def thinking_mode(self) -> bool:
        """The sources say the figure was produced in the model's thinking mode."""
        return self.cot.startswith(PUBLISHED_THINKING)


PublishedTable = dict[tuple[str, str], PublishedScore]

THINKING_SUFFIX = "-Thinking"  # the card of a checkpoint's thinking-mode entry (models/internvl3_cards.py)


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
    """A registered model's card name for any spelling the registry accepts: ``InternVL2-5-8B``,
    ``internvl2_5-8b-mpo``, ``InternVL3.5-8B`` -> ``InternVL2_5-8B``, ``InternVL2_5-8B-MPO``,
    ``InternVL3_5-8B``.

    Names the registry does not know (a fine-tuned or tiny model) are returned unchanged.
    """
    from vleval.errors import VlevalError
    from vleval.models.registry import get_model

    try:
        return get_model(name.strip()).name
    except VlevalError:
        return name


def published_for(table: PublishedTable, model: str, benchmark: str) -> PublishedScore | None:
    """The model's published figure; for a ``-Thinking`` card, the checkpoint's figure when the sources
    say it was produced in thinking mode."""
    name = canonical_model_name(model)
    entry = table.get((name, benchmark))
    if entry is None and name.endswith(THINKING_SUFFIX):
        plain = table.get((name.removesuffix(THINKING_SUFFIX), benchmark))
        if plain is not None and plain.thinking_mode:
            return plain
    return entry
