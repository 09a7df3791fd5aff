"""What the report says about a cell's uncertainty: the interval (hover for its method), the censored
rows and bounds, and the reproduction verdict against the published figure with the settings that
usually explain a gap (``vleval.stats.verdict``)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from vleval.report.format import bounds_text, censoring_text, headline_value, interval_text
from vleval.stats.verdict import OurSettings, ReproductionVerdict, reproduction_verdict
from vleval.types import ScoreRecord

if TYPE_CHECKING:
    from vleval.report.summary import Cell


def cell_verdict(cell: Cell) -> ReproductionVerdict:
    record = cell.chosen.record
    settings = cell.chosen.settings
    published = cell.published
    return reproduction_verdict(
        headline_value(record),
        record.intervals.get("headline") if record is not None else None,
        published.score if published is not None else None,
        published_cot=published.cot if published is not None else "",
        published_metric=published.metric if published is not None else "",
        settings=OurSettings(
            cot=settings.cot,
            judge=record.judge.model if record is not None and record.judge is not None else None,
            protocol=settings.protocol,
            backend=settings.backend,
            dtype=settings.dtype,
            md5_matches=settings.md5_matches,
            max_new_tokens_override=settings.full.max_new_tokens,
            max_tiles_override=settings.full.max_tiles,
            rule_only=settings.full.rule_only,
            best_of_direct_and_cot=cell.rule.startswith("best of direct"),
            thinking=settings.full.thinking,
        ),
    )


def verdict_summary(verdict: ReproductionVerdict) -> str:
    """One line: the verdict, and for a gap the settings known to differ from the publication."""
    if verdict.consistent is not False:
        return verdict.text
    differing = ", ".join(f"{c.name} (ours {c.ours}, published {c.published})" for c in verdict.differing)
    return verdict.text + (f"; known to differ: {differing}" if differing else "; no setting known to differ")


def checklist_text(verdict: ReproductionVerdict) -> str:
    return "\n".join(
        f"{c.name}: ours {c.ours} · published {c.published} · {c.status}" for c in verdict.checks
    )


def interval_html(record: ScoreRecord | None) -> str:
    found = record.intervals.get("headline") if record is not None else None
    if found is None:
        return ""
    return (
        f'<div class="interval" data-role="interval" title="{escape(interval_text(record))}">'
        f'{escape(bounds_text(found, headline_value(record)))} <span class="muted">({found.level:.0%})</span></div>'
    )


def censoring_html(record: ScoreRecord | None) -> str:
    text = censoring_text(record)
    if not text:
        return ""
    wide = "flag-text" if "wider than the interval" in text else "muted"
    return f'<div class="settings {wide}" data-role="censoring">{escape(text)}</div>'


def verdict_html(cell: Cell) -> str:
    verdict = cell_verdict(cell)
    if verdict.consistent is None and cell.published is None:
        return ""
    css = {True: "verdict-ok", False: "verdict-gap", None: "muted"}[verdict.consistent]
    return (
        f'<div class="verdict {css}" data-role="verdict" title="{escape(checklist_text(verdict))}">'
        f"{escape(verdict_summary(verdict))}</div>"
    )
