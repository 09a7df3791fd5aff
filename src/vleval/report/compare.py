"""Two work directories side by side: per benchmark the score change, and the samples whose verdict
changed (hit <-> miss, failed, unknown) shown next to each other in the sample browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from vleval.families.base import scale_note
from vleval.report.collect import BenchmarkRun, SampleRecord
from vleval.report.format import score_text
from vleval.report.html import SAMPLE_BROWSER, page, sample_entry, sample_json
from vleval.report.summary import diff_text


@dataclass
class BenchmarkChange:
    model: str  # "A-model vs B-model" when the two directories hold different models
    benchmark: str
    a: BenchmarkRun
    b: BenchmarkRun
    changed: list[tuple[SampleRecord, SampleRecord]] = field(default_factory=list)
    n_common: int = 0

    @property
    def delta(self) -> float | None:
        if self.a.score is None or self.b.score is None:
            return None
        return self.b.score - self.a.score

    def count(self, before: str, after: str) -> int:
        return sum(verdict(x) == before and verdict(y) == after for x, y in self.changed)


def verdict(sample: SampleRecord) -> str:
    if sample.failed or sample.judge_failed:
        return "failed"
    return {True: "hit", False: "miss", None: "unknown"}[sample.hit]


def _pairs(runs_a: list[BenchmarkRun], runs_b: list[BenchmarkRun]) -> list[tuple[BenchmarkRun, BenchmarkRun]]:
    by_key_b = {(r.model, r.benchmark): r for r in runs_b}
    pairs = [(a, by_key_b[(a.model, a.benchmark)]) for a in runs_a if (a.model, a.benchmark) in by_key_b]
    if not pairs and len({r.model for r in runs_a}) == 1 and len({r.model for r in runs_b}) == 1:
        # one model on each side (e.g. a model against its -MPO variant): pair by benchmark
        by_bench_b = {r.benchmark: r for r in runs_b}
        pairs = [(a, by_bench_b[a.benchmark]) for a in runs_a if a.benchmark in by_bench_b]
    return sorted(pairs, key=lambda p: (p[0].model, p[0].benchmark))


def compare_runs(runs_a: list[BenchmarkRun], runs_b: list[BenchmarkRun]) -> list[BenchmarkChange]:
    changes = []
    for a, b in _pairs(runs_a, runs_b):
        samples_b = {s.index: s for s in b.samples}
        common = [(s, samples_b[s.index]) for s in a.samples if s.index in samples_b]
        model = a.model if a.model == b.model else f"{a.model} vs {b.model}"
        changes.append(
            BenchmarkChange(
                model=model,
                benchmark=a.benchmark,
                a=a,
                b=b,
                changed=[(x, y) for x, y in common if verdict(x) != verdict(y)],
                n_common=len(common),
            )
        )
    return changes


def render_compare(
    changes: list[BenchmarkChange],
    label_a: str,
    label_b: str,
    *,
    unpaired: list[str] | None = None,
    paired: str = "",
) -> str:
    """``paired``: the statistics section (``vleval.report.paired.paired_section``)."""
    rows = []
    samples = []
    for change in changes:
        delta = change.delta
        css = "" if not delta else ("delta-up" if delta > 0 else "delta-down")
        rows.append(
            f'<tr data-model="{escape(change.model)}" data-benchmark="{escape(change.benchmark)}">'
            f"<td>{escape(change.model)}</td><td>{escape(change.benchmark)}</td>"
            f'<td data-role="a">{escape(score_text(change.a.record, interval=False))}</td>'
            f'<td data-role="b">{escape(score_text(change.b.record, interval=False))}</td>'
            f'<td class="{css}" data-role="delta">{diff_text(delta)}</td>'
            f'<td data-role="changed">{len(change.changed)} of {change.n_common}</td>'
            f"<td>{change.count('hit', 'miss')} / {change.count('miss', 'hit')}</td>"
            f'<td class="settings">A: {escape(change.a.settings.describe())}<br>'
            f"B: {escape(change.b.settings.describe())}</td></tr>"
        )
        for x, y in change.changed:
            samples.append(
                sample_entry(
                    change.b,
                    y,
                    [sample_json(change.a, x, f"A · {label_a}"), sample_json(change.b, y, f"B · {label_b}")],
                )
            )
    table = (
        '<table class="scores" id="compare"><thead><tr><th>model</th><th>benchmark</th>'
        f"<th>A: {escape(label_a)}</th><th>B: {escape(label_b)}</th><th>B − A</th>"
        "<th>verdict changed</th><th>hit→miss / miss→hit</th><th>settings</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if not changes:
        table = '<div class="banner">The two directories share no benchmark runs to compare.</div>'
    body = (
        f'<h1>vleval comparison</h1><p class="muted">A = {escape(label_a)} · B = {escape(label_b)}. '
        f"{escape(scale_note())}</p>"
        "<h2>Score change per benchmark</h2>"
        + table
        + "".join(f'<p class="muted" data-role="unpaired">{escape(u)}</p>' for u in unpaired or [])
        + paired
        + "<h2>Samples whose verdict changed</h2>"
        '<p class="muted">Verdict filter applies to B.</p>' + SAMPLE_BROWSER
    )
    return page("vleval comparison", body, {"mode": "compare", "samples": samples})
