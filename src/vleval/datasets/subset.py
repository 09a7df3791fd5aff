"""``--limit N``: the first N questions of a benchmark, as lmms-eval's ``--limit`` takes the first N
documents, to smoke-test a checkpoint before a long job.

A question is what the benchmark scores together (``BenchmarkFamily.question_keys``): an MMBench
circular group (all its rotations, wherever they sit in the file), a HallusionBench question set (its
paired questions and figures), a CRPE block of rotations; elsewhere a row. Questions are taken in the
order their first row appears in the file, and each is kept whole, so the subset is scored by the
benchmark's own rules. Its score is marked "subset of N/M" wherever it is shown and never set beside
a published figure.
"""

from __future__ import annotations

import pandas as pd

from vleval.protocol import Protocol
from vleval.types import BenchmarkCard, Subset


def limit_table(
    table: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, limit: int | None
) -> tuple[pd.DataFrame, Subset | None]:
    """The rows of the first ``limit`` questions, in file order, and what was kept; the table itself
    and None when ``limit`` is None or covers every question (then the run is a full one)."""
    if limit is None:
        return table, None
    from vleval.families.base import family_of

    keys = family_of(card).question_keys(table, card, protocol)
    questions = list(dict.fromkeys(keys))
    if limit >= len(questions):
        return table, None
    kept = set(questions[:limit])
    mask = [key in kept for key in keys]
    subset = Subset(
        limit=limit, questions=limit, of_questions=len(questions), rows=sum(mask), of_rows=len(table)
    )
    return table[mask].reset_index(drop=True), subset
