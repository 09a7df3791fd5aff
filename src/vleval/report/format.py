"""The one way a score becomes text: the ``vleval run`` console table, ``vleval eval``, summary.md,
summary.csv, the HTML report and the comparison page all call ``score_text``."""

from __future__ import annotations

import math

from vleval.settings import marks, subset_text
from vleval.stats.scores import category_key
from vleval.types import Interval, JudgeCalibration, ScoreRecord

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
    if record.subset is not None:  # --limit: the first questions only; never set beside the paper's
        parts.append(subset_text(record.subset))
    if record.counts.failed:
        parts.append(f"incomplete: {record.counts.failed} judge call(s) failed")
    if record.partial or record.counts.missing_predictions:
        parts.append(f"partial: {record.counts.missing_predictions} row(s) without prediction")
    if record.judge is not None and record.judge.substitute:  # not the protocol's judge: not its numbers
        parts.append("substitute judge")
    parts.extend(marks(record.settings))  # unverified checkpoint, rule-only, stand-in judge, subset
    return "; ".join(parts)


def score_text(record: ScoreRecord | None, *, digits: int = 2, interval: bool = True) -> str:
    """``75.00 [72.10, 77.60]`` (the 95% interval, when the record has one; ``75.00 ± 1.10`` only where
    it is symmetric about the score, see ``bounds_text``; ``interval=False`` leaves it out); ``—``
    when there is no number; a failed or partial result says so after it."""
    value = headline_value(record)
    if value is None:
        return MISSING
    text = f"{value:.{digits}f}" + (interval_suffix(record, digits=digits) if interval else "")
    why = caveat(record) if record is not None else ""
    return f"{text} ({why})" if why else text


def interval_suffix(record: ScoreRecord | None, *, digits: int = 2) -> str:
    """`` [72.10, 77.60]`` (or `` ± 1.10``, see ``bounds_text``) for the headline's interval, or ''."""
    found = record.intervals.get("headline") if record is not None else None
    return "" if found is None else " " + bounds_text(found, headline_value(record), digits=digits)


def bounds_text(found: Interval, value: float | None, *, digits: int = 2) -> str:
    """``[low, high]``, the interval's bounds on the score's own scale; ``± half-width`` only where the
    interval is symmetric about ``value`` at the shown precision. A bootstrap or exact interval near
    0, near the top or on few units is lopsided (0/8 right: [0.00, 36.94]), and ``12.50 ± 18.75``
    for [0, 37.5] would claim a lower bound below zero."""
    below = None if value is None else round(value - found.low, digits)
    above = None if value is None else round(found.high - value, digits)
    if below is not None and below == above and below > 0:
        return f"± {below:.{digits}f}"
    return f"[{found.low:.{digits}f}, {found.high:.{digits}f}]"


def interval_text(record: ScoreRecord | None, *, digits: int = 2) -> str:
    """``95% interval 60.00 to 66.00 (percentile bootstrap over ..., seed 0)``; '' without one."""
    found = record.intervals.get("headline") if record is not None else None
    if found is None:
        return ""
    text = f"{found.level:.0%} interval {found.low:.{digits}f} to {found.high:.{digits}f} ({found.method})"
    exact = record.intervals.get("headline:exact")
    if exact is not None:
        text += f"; {exact.method}: {exact.low:.{digits}f} to {exact.high:.{digits}f}"
    return text


def category_interval(record: ScoreRecord | None, category: str) -> Interval | None:
    """The interval of one per-category value of ``record.categories``, when scoring gave it one."""
    return record.intervals.get(category_key(category)) if record is not None else None


def interval_hover(found: Interval | None, value: float | None = None, *, digits: int = 2) -> str:
    """`` [60.00, 62.20] (95% interval; percentile bootstrap ...)`` for a hover text (``± half-width``
    where symmetric about ``value``, see ``bounds_text``); '' without one."""
    if found is None:
        return ""
    return f" {bounds_text(found, value, digits=digits)} ({found.level:.0%} interval; {found.method})"


def censoring_text(record: ScoreRecord | None, *, digits: int = 2) -> str:
    """Rows whose outcome is not the model's own answer, and the score if they were all wrong ... all
    right; '' when there are none."""
    if record is None:
        return ""
    counts = record.counts
    kinds = [
        (counts.hit_token_limit, "hit the token limit"),
        (counts.fallback, "decided by the fallback"),
        (counts.unparsed, "unparsed"),
        (counts.failed, "judge failed"),
    ]
    parts = [f"{n} {what}" for n, what in kinds if n]
    if not parts:
        return ""
    text = "censored rows: " + ", ".join(parts)
    if record.bounds is not None:
        low, high = record.bounds
        text += f"; all wrong … all right: {low:.{digits}f} … {high:.{digits}f}"
        found = record.intervals.get("headline")
        if found is not None and high - low > found.high - found.low:
            text += " (wider than the interval)"
    return text


def figures_text(record: ScoreRecord | None, *, digits: int = 2) -> list[str]:
    """The figures shown beside a benchmark's accuracy, one line each: MMStar's multi-modal gain and
    leakage, MMBench's rotation consistency, a judge-calibrated (PPI) estimate; [] when none."""
    if record is None:
        return []
    lines = []
    gain = getattr(record, "multimodal_gain", None)
    if gain is not None:
        lines.append(gain.text(digits))
    consistency = getattr(record, "rotation_consistency", None)
    if consistency is not None:
        lines.append(consistency.text(digits))
    calibration = getattr(record, "judge_calibration", None)
    if calibration is not None:
        lines.append(calibration_text(calibration, digits=digits))
    return lines


def calibration_text(calibration: JudgeCalibration, *, digits: int = 2) -> str:
    """How a PPI-corrected score (``vleval judge-calibrate``) is shown wherever it is: under its label
    (against which judge, on how many units), with its interval and the cheap judge's own number, and
    never as the protocol's figure."""
    c = calibration
    return (
        f"{c.label}: {c.corrected:.{digits}f} [{c.interval.low:.{digits}f}, {c.interval.high:.{digits}f}] "
        f"(local judge {c.local_judge} alone: {c.local_score:.{digits}f}; an estimate of "
        f"{c.protocol_judge}'s score, not the protocol's figure)"
    )
