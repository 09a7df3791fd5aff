"""The one way a score becomes text: the ``vleval run`` console table, ``vleval eval``, summary.md,
summary.csv, the HTML report and the comparison page all call ``score_text``."""

from __future__ import annotations

import math

from vleval.types import ScoreRecord

MISSING = "—"


def headline_value(record: ScoreRecord | None) -> float | None:
    """The 0-100 headline, or None when there is none (not scored, or NaN)."""
    if record is None or record.headline is None:
        return None
    value = float(record.headline)
    return None if math.isnan(value) else value


def caveat(record: ScoreRecord) -> str:
    """Why a number is not a (full) score: '' for a complete result."""
    parts = []
    if record.counts.failed:
        parts.append(f"incomplete: {record.counts.failed} judge call(s) failed")
    if record.partial or record.counts.missing_predictions:
        parts.append(f"partial: {record.counts.missing_predictions} row(s) without prediction")
    if record.judge is not None and record.judge.substitute:  # not the protocol's judge: not its numbers
        parts.append("substitute judge")
    return "; ".join(parts)


def score_text(record: ScoreRecord | None, *, digits: int = 2) -> str:
    """``75.00``; ``—`` when there is no number; a failed or partial result says so after the number."""
    value = headline_value(record)
    if value is None:
        return MISSING
    text = f"{value:.{digits}f}"
    why = caveat(record) if record is not None else ""
    return f"{text} ({why})" if why else text
