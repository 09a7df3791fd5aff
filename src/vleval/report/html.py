"""One self-contained HTML file: scores table, per-category charts (inline SVG), sample browser.

Everything is inline (CSS, JS, SVG, images as data: URIs); the page loads nothing from the network
(a Content-Security-Policy in the template forbids it). The table and charts are rendered here, so
they read without JavaScript; the sample browser is a small script over an embedded JSON block.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from html import escape
from importlib import resources
from typing import Any

from vleval import __version__
from vleval.families.base import scale_note
from vleval.protocol import PINNED_PROTOCOLS, PROTOCOLS
from vleval.report.collect import BenchmarkRun, SampleRecord
from vleval.report.format import (
    MISSING,
    category_interval,
    caveat,
    headline_value,
    interval_hover,
)
from vleval.report.protocol_diffs import protocol_diff_section
from vleval.report.summary import Cell, Summary, diff_text
from vleval.report.verdicts import censoring_html, interval_html, verdict_html
from vleval.types import Interval

PALETTE = ("#2f5fb3", "#d9822b", "#3a9a5b", "#b3261e", "#7b4fb3", "#1b9aaa", "#8a6d3b", "#c2185b")


def _asset(name: str) -> str:
    return resources.files("vleval.report").joinpath("assets", name).read_text(encoding="utf-8")


def factor_prompt_prefixes(samples: list[dict[str, Any]]) -> list[str]:
    """Store the prompt text shared by all samples of a benchmark run (system message, template)
    once: each run's ``pr`` keeps only its own part and ``pp`` points at the shared prefix. A full
    report holds tens of thousands of prompts, so this keeps the file a good deal smaller."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for sample in samples:
        for k, run in enumerate(sample["runs"]):
            if run.get("pr"):
                groups.setdefault((sample["b"], sample["m"], k), []).append(run)
    prefixes: list[str] = []
    for runs in groups.values():
        prefix = os.path.commonprefix([r["pr"] for r in runs]) if len(runs) > 1 else ""
        if len(prefix) < 40:
            continue
        for run in runs:
            run["pr"], run["pp"] = run["pr"][len(prefix) :], len(prefixes)
        prefixes.append(prefix)
    return prefixes


def page(title: str, body: str, data: dict[str, Any]) -> str:
    data = {**data, "prefixes": factor_prompt_prefixes(data.get("samples", []))}
    # "</" inside the JSON would close the <script> element early.
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    html = _asset("template.html")
    for key, value in (("TITLE", escape(title)), ("CSS", _asset("report.css")), ("JS", _asset("report.js"))):
        html = html.replace("{{" + key + "}}", value)
    # body and data last: sample text may contain "{{...}}"
    head, tail = html.split("{{BODY}}")
    tail_head, tail_tail = tail.split("{{DATA}}")
    return head + body + tail_head + payload + tail_tail


# --------------------------------------------------------------------------------------------------
# scores table
# --------------------------------------------------------------------------------------------------
def _cell_html(cell: Cell | None, threshold: float) -> str:
    if cell is None:
        return '<td class="empty">—</td>'
    flag = cell.flagged(threshold)
    record = cell.chosen.record
    value = headline_value(record)
    why = caveat(record) if record is not None else ""  # incomplete, rule-only, unverified checkpoint...
    parts = [f'<div class="ours" data-role="ours">{MISSING if value is None else f"{value:.2f}"}</div>']
    if why:
        parts.append(f'<div class="settings flag-text" data-role="marks">{escape(why)}</div>')
    parts.append(interval_html(record))
    if cell.published is not None:
        title = escape(f"{cell.published.metric} — {cell.published.source}")
        if cell.published.alternatives:
            title += escape(f" — also published: {cell.published.alternatives}")
        parts.append(
            f'<div class="pub" title="{title}">published <span data-role="published">'
            f"{cell.published.score:.1f}</span></div>"
        )
        parts.append(f'<div class="diff">Δ <span data-role="diff">{diff_text(cell.diff)}</span></div>')
        parts.append(verdict_html(cell))
    elif record is not None and record.subset is not None:
        parts.append('<div class="pub muted">subset run: not compared with the published figure</div>')
    else:
        parts.append('<div class="pub muted">no published figure</div>')
    if len(cell.runs) > 1:
        runs = []
        for run in cell.runs:
            label = escape(cell.run_label(run))
            runs.append(f'<span class="chosen">{label} ✓</span>' if run is cell.chosen else label)
        parts.append(f'<div class="runs" title="{escape(cell.rule)}">{" · ".join(runs)}</div>')
    settings = cell.chosen.settings  # described once per run, in the run settings table
    parts.append(censoring_html(record))
    # beside the accuracy: MMStar's gain and leakage, MMBench's rotation consistency, PPI estimates
    parts += [
        f'<div class="settings" data-role="figure">{escape(line)}</div>' for line in cell.chosen.figures()
    ]
    if settings.protocol in PROTOCOLS and settings.protocol not in PINNED_PROTOCOLS:
        parts.append(
            f'<div class="settings">protocol {escape(settings.protocol)} is not the reference\'s rules: '
            "not comparable with the published figure</div>"
        )
    if cell.chosen.n_failed:
        parts.append(f'<div class="settings">{cell.chosen.n_failed} failed samples</div>')
    if cell.chosen.n_judge_failed:
        parts.append(
            f'<div class="settings" data-role="judge-failed">{cell.chosen.n_judge_failed} rows without a '
            "judge answer: incomplete, not a score</div>"
        )
    tally = cell.chosen.judge_tally
    if tally is not None:  # run.json's record of the judge calls; none for older or VLMEvalKit runs
        parts.append(
            f'<div class="settings" data-role="judge-tally" title="{escape(tally.model)}">'
            f"judge: {escape(tally.describe())}</div>"
        )
    label = cell.chosen.label
    attrs = (
        f'data-model="{escape(cell.row)}" data-benchmark="{escape(cell.benchmark)}" title="{escape(label)}"'
    )
    return f'<td class="{"flag" if flag else "cell"}" {attrs}>' + "".join(parts) + "</td>"


# the most benchmark columns one results table holds: with headers at most 84 px wide (report.css)
# and the model column at most 220 px, 12 fit a 1280 px laptop screen
MATRIX_COLUMNS = 12


def benchmark_groups(benchmarks: list[str], most: int = MATRIX_COLUMNS) -> list[list[str]]:
    """``benchmarks`` in order, cut into as few consecutive groups of at most ``most`` as possible,
    their sizes as even as possible (25 -> 9, 8, 8), so no table is left with a stub of one or two."""
    if not benchmarks:
        return [[]]
    count = -(-len(benchmarks) // most)
    size, extra = divmod(len(benchmarks), count)
    groups, start = [], 0
    for k in range(count):
        end = start + size + (k < extra)
        groups.append(benchmarks[start:end])
        start = end
    return groups


def _header(benchmark: str) -> str:
    """A benchmark's column header, breakable after '_' and '-' (``MMBench_DEV_EN_V11`` wraps at its
    parts, not mid-word)."""
    text = escape(benchmark)
    for mark in ("_", "-"):
        text = text.replace(mark, mark + "<wbr>")
    return text


def results_matrix(summary: Summary) -> str:
    """The models x benchmarks table researchers paste into papers: one number per cell (its marks as
    a footnote sign, the run's settings by reference). Up to ``MATRIX_COLUMNS`` benchmarks it is one
    table; beyond, one table per group of consecutive benchmarks (``benchmark_groups``), each with
    every model's row, so that it stays on a laptop's screen instead of scrolling sideways."""
    refs = _settings_refs(summary)
    tables = "".join(_matrix_table(summary, group, refs) for group in benchmark_groups(summary.benchmarks))
    return (
        f'<div class="matrix" id="matrix">{tables}</div>'
        '<p class="muted">† the number is not what its name says (hover it): incomplete, partial, '
        "rule-only, a substitute or stand-in judge, an unverified or synthetic checkpoint. [n]: the run's "
        "settings, below.</p>" + run_settings_table(summary, refs)
    )


def _matrix_table(summary: Summary, benchmarks: list[str], refs: dict[str, list[int]]) -> str:
    """The results table of every model on ``benchmarks``."""
    head = "".join(f"<th>{_header(b)}</th>" for b in benchmarks)
    rows = []
    for model in summary.models:
        cells = []
        for benchmark in benchmarks:
            cell = summary.cell(model, benchmark)
            if cell is None:
                cells.append('<td class="empty">—</td>')
                continue
            value = headline_value(cell.chosen.record)
            text = MISSING if value is None else f"{value:.2f}"
            why = caveat(cell.chosen.record) if cell.chosen.record is not None else ""
            mark = f'<sup class="mark" title="{escape(why)}">†</sup>' if why else ""
            attrs = f'data-row="{escape(cell.row)}" data-col="{escape(benchmark)}"'
            cells.append(f'<td {attrs} title="{escape(why or cell.chosen.label)}">'
                         f'<span data-role="score">{text}</span>{mark}</td>')  # fmt: skip
        ref = ", ".join(f"[{n}]" for n in refs.get(model, []))
        rows.append(f'<tr><th>{escape(model)} <span class="muted">{ref}</span></th>{"".join(cells)}</tr>')
    return (
        f'<table class="matrix"><thead><tr><th>model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _settings_refs(summary: Summary) -> dict[str, list[int]]:
    """Per table row, the numbers of the distinct settings lines its cells were made under."""
    lines: dict[str, int] = {}
    refs: dict[str, list[int]] = {}
    for model in summary.models:
        for benchmark in summary.benchmarks:
            cell = summary.cell(model, benchmark)
            if cell is None:
                continue
            number = lines.setdefault(cell.chosen.settings.describe(), len(lines) + 1)
            if number not in refs.setdefault(model, []):
                refs[model].append(number)
    return refs


def run_settings_table(summary: Summary, refs: dict[str, list[int]]) -> str:
    """Each distinct settings line once, with the rows and benchmarks made under it."""
    by_line: dict[str, dict[str, list[str]]] = {}
    for model in summary.models:
        for benchmark in summary.benchmarks:
            cell = summary.cell(model, benchmark)
            if cell is not None:
                by_line.setdefault(cell.chosen.settings.describe(), {}).setdefault(model, []).append(
                    benchmark
                )

    def where(models: dict[str, list[str]]) -> str:
        parts = []
        for model, names in models.items():
            scored = [b for b in summary.benchmarks if summary.cell(model, b) is not None]
            parts.append(f"{model}: {'all benchmarks' if names == scored else ', '.join(names)}")
        return "; ".join(parts)

    rows = "".join(
        f'<tr><th>[{n}]</th><td data-role="settings">{escape(line)}</td>'
        f'<td class="muted">{escape(where(models))}</td></tr>'
        for n, (line, models) in enumerate(by_line.items(), 1)
    )
    return f'<table class="run-settings" id="run-settings"><tbody>{rows}</tbody></table>'


def scores_table(summary: Summary) -> str:
    head = "".join(f"<th>{escape(b)}</th>" for b in summary.benchmarks)
    rows = []
    for model in summary.models:
        cells = "".join(_cell_html(summary.cell(model, b), summary.threshold) for b in summary.benchmarks)
        rows.append(f"<tr><th>{escape(model)}</th>{cells}</tr>")
    return (
        f'<table class="scores" id="scores"><thead><tr><th>model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p class="muted">{escape(scale_note())} Highlighted: |our score − published| &gt; '
        f"{summary.threshold:g} points. Hover a number for what it measures and where it was published.</p>"
    )


# --------------------------------------------------------------------------------------------------
# charts
# --------------------------------------------------------------------------------------------------
def bar_chart(
    benchmark: str,
    series: list[tuple[str, list[tuple[str, float]]]],
    unit: str,
    intervals: Mapping[str, Mapping[str, Interval]] | None = None,
) -> str:
    """Horizontal grouped bars: one group per category, one bar per model. ``intervals`` (model ->
    category -> its 95% interval) go into each bar's hover text."""
    categories: list[str] = []
    for _, values in series:
        for name, _value in values:
            if name not in categories:
                categories.append(name)
    if not categories:
        return ""
    top = 100.0 if unit == "%" else max((v for _, vs in series for _, v in vs), default=1.0) or 1.0
    label_w, plot_w, bar_h, gap = 220, 300, 12, 8
    group_h = bar_h * len(series) + gap
    height = group_h * len(categories) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 60}" height="{height}" '
        f'role="img" aria-label="{escape(benchmark)} per-category scores">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + plot_w * tick
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#e3e6ea"/>')
        out.append(
            f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" fill="#5f6b76">'
            f"{top * tick:g}</text>"
        )
    for row, category in enumerate(categories):
        y0 = row * group_h
        short = category if len(category) <= 32 else category[:30] + "…"
        out.append(
            f'<text x="{label_w - 6}" y="{y0 + group_h / 2 + 2:.1f}" font-size="11" text-anchor="end">'
            f"<title>{escape(category)}</title>{escape(short)}</text>"
        )
        for k, (model, values) in enumerate(series):
            value = dict(values).get(category)
            if value is None:
                continue
            width = max(0.0, min(1.0, value / top)) * plot_w
            y = y0 + k * bar_h
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h - 2}" fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{escape(model)} · {escape(category)}: {value:.2f}{'' if unit == '%' else ' ' + unit}"
                f"{escape(interval_hover((intervals or {}).get(model, {}).get(category), value))}</title></rect>"
            )
            out.append(
                f'<text x="{label_w + width + 3:.1f}" y="{y + bar_h - 3}" font-size="9" fill="#5f6b76">{value:.1f}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def charts_section(summary: Summary) -> str:
    figures = []
    for benchmark in summary.benchmarks:
        series = []
        intervals: dict[str, dict[str, Interval]] = {}
        unit = "%"
        for model in summary.models:
            cell = summary.cell(model, benchmark)
            record = cell.chosen.record if cell else None
            if record is not None and record.categories:
                series.append((model, list(record.categories.items())))
                intervals[model] = {
                    name: found for name in record.categories if (found := category_interval(record, name))
                }
                unit = record.category_unit
        svg = bar_chart(benchmark, series, unit, intervals)
        if not svg:
            continue
        legend = "".join(
            f'<span><i style="background:{PALETTE[k % len(PALETTE)]}"></i>{escape(m)}</span>'
            for k, (m, _) in enumerate(series)
        )
        unit_note = "percent" if unit == "%" else f"raw {unit} (the reference's counts)"
        figures.append(
            f'<figure class="chart" data-benchmark="{escape(benchmark)}"><figcaption>{escape(benchmark)} '
            f'<span class="muted">per category, {unit_note}</span></figcaption>'
            f'<div class="legend">{legend}</div>{svg}</figure>'
        )
    if not figures:
        return '<p class="muted">No per-category tables found.</p>'
    return f'<div class="charts">{"".join(figures)}</div>'


# --------------------------------------------------------------------------------------------------
# sample browser
# --------------------------------------------------------------------------------------------------
EMPTY_PREDICTION = "(empty)"  # the model answered nothing: shown, not left out


def sample_json(run: BenchmarkRun, sample: SampleRecord, label: str = "") -> dict[str, Any]:
    return {
        "label": label,
        "p": sample.prediction if sample.prediction.strip() else EMPTY_PREDICTION,
        "x": sample.extracted,
        "h": sample.hit,
        "v": sample.verdict,
        "f": sample.failed or sample.judge_failed,
        "pr": sample.prompt,
        "t": sample.tiles,
    }


def sample_entry(run: BenchmarkRun, sample: SampleRecord, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "b": run.benchmark,
        "m": run.model,
        "i": sample.index,
        "c": sample.category,
        "q": sample.question,
        "o": sample.options,
        "a": sample.answer,
        "img": sample.image,
        "runs": runs,
    }


SAMPLE_BROWSER = """
<div class="filters" id="filters">
  <label>benchmark <select id="f-benchmark"></select></label>
  <label>model <select id="f-model"></select></label>
  <label>category <select id="f-category"></select></label>
  <label>verdict <select id="f-verdict">
    <option value="">all</option><option value="hit">hit</option><option value="miss">miss</option>
    <option value="unknown">unknown</option><option value="failed">failed</option></select></label>
  <label><input type="checkbox" id="f-failed"> failed only</label>
  <input type="search" id="f-search" placeholder="search question, answer, prediction…" aria-label="search">
  <span id="sample-count"></span>
</div>
<div id="sample-list"></div>
<button class="more" id="sample-more" type="button">show more</button>
"""


def _notes_html(notes: list[str], css: str = "banner") -> str:
    return "".join(f'<div class="{css}">{escape(n)}</div>' for n in notes)


def run_notes(summary: Summary) -> str:
    items = []
    for cell in sorted(summary.cells, key=lambda c: (c.model, c.benchmark)):
        for run in cell.runs:
            for note in run.notes:
                items.append(f"<li>{escape(run.model)} · {escape(run.benchmark)}: {escape(note)}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else '<p class="muted">None.</p>'


def _cell_samples(cell: Cell) -> list[dict[str, Any]]:
    """The chosen run's samples; where a cell has several runs (direct and CoT), each sample shows
    every run side by side, the chosen one last (filters read the last)."""
    if len(cell.runs) == 1:
        return [sample_entry(cell.chosen, s, [sample_json(cell.chosen, s)]) for s in cell.chosen.samples]
    others = [r for r in cell.runs if r is not cell.chosen]
    by_index = [{s.index: s for s in r.samples} for r in others]
    entries = []
    for sample in cell.chosen.samples:
        sides = [
            sample_json(run, found[sample.index], cell.run_label(run))
            for run, found in zip(others, by_index, strict=True)
            if sample.index in found
        ]
        sides.append(sample_json(cell.chosen, sample, cell.run_label(cell.chosen) + " (used)"))
        entries.append(sample_entry(cell.chosen, sample, sides))
    return entries


def render_report(
    summary: Summary,
    *,
    notes: list[str] | None = None,
    title: str = "vleval report",
    protocol_diffs: list[dict[str, Any]] | None = None,
) -> str:
    samples = [
        entry
        for cell in sorted(summary.cells, key=lambda c: (c.model, c.benchmark))
        for entry in _cell_samples(cell)
    ]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"<h1>{escape(title)}</h1>"
        f'<p class="muted">Generated {generated} by vleval {escape(__version__)} · '
        f"{len(summary.models)} models × {len(summary.benchmarks)} benchmarks · {len(samples)} samples</p>"
        + _notes_html(notes or [])
        + "<h2>Results</h2>"
        + results_matrix(summary)
        + "<h2>Against the published figures</h2>"
        + scores_table(summary)
        + protocol_diff_section(protocol_diffs or [])
        + "<h2>Per-category scores</h2>"
        + charts_section(summary)
        + "<h2>Samples</h2>"
        + SAMPLE_BROWSER
        + "<h2>What could not be shown</h2>"
        + run_notes(summary)
    )
    return page(title, body, {"mode": "report", "samples": samples})
