"""The comparison page's statistics: per benchmark the paired difference B - A with its interval,
Holm-adjusted p-value, verdict and smallest detectable difference (``vleval.workflows.compare``, the same
numbers ``vleval compare`` prints), and a filterable list of the units that flipped."""

from __future__ import annotations

from html import escape
from pathlib import Path

from vleval.errors import VlevalError
from vleval.workflows.compare import SEEDS_NOTE, Comparison, compare_runs, model_pairs, subset_notes

# filters the flips list by benchmark and by text; the page's own script knows nothing of this list
_FLIPS_SCRIPT = """
(function () {
  var list = document.getElementById("flips");
  if (!list) return;
  var bench = document.getElementById("flip-benchmark"), text = document.getElementById("flip-text");
  function apply() {
    var b = bench.value, t = text.value.toLowerCase(), shown = 0;
    list.querySelectorAll("tbody tr").forEach(function (row) {
      var ok = (!b || row.dataset.benchmark === b) && (!t || row.textContent.toLowerCase().indexOf(t) >= 0);
      row.style.display = ok ? "" : "none";
      if (ok) shown += 1;
    });
    document.getElementById("flip-count").textContent = shown;
  }
  bench.addEventListener("change", apply);
  text.addEventListener("input", apply);
  apply();
})();
"""


def paired_comparisons(dir_a: Path, dir_b: Path) -> tuple[list[Comparison], list[str]]:
    """One ``Comparison`` per pair of model folders (same model name, or the one model of each
    side), made even when settings differ (the page shows the differences); and what could not be
    compared, as lines."""
    comparisons, problems = [], []
    for model_a, model_b in model_pairs(dir_a, dir_b):
        try:
            comparisons.append(compare_runs(model_a, model_b, allow_different_settings=True))
        except VlevalError as exc:
            problems.append(f"{model_a.name} vs {model_b.name}: {exc}")
    return comparisons, problems


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _outcome(value: float) -> str:
    if value != value:  # NaN: the unit had no scored row
        return "not scored"
    return {1.0: "right", 0.0: "wrong"}.get(value, f"{value:.2f}")


def paired_section(comparisons: list[Comparison], problems: list[str]) -> str:
    parts = ["<h2>Is the difference real?</h2>"]
    parts += [f'<div class="banner" data-role="paired-problem">{escape(p)}</div>' for p in problems]
    flips = []
    for comparison in comparisons:
        title = f"{comparison.a.model} → {comparison.b.model}"
        parts.append(f"<h3>{escape(title)}</h3>")
        if comparison.differences:
            items = "".join(f"<li>{escape(d)}</li>" for d in comparison.differences)
            parts.append(
                '<div class="banner" data-role="setting-differences">The runs were not made the same way; '
                f"scores differ for these reasons too:<ul>{items}</ul></div>"
            )
        rows = []
        for c in comparison.benchmarks:
            p = c.paired
            interval = f"[{_num(p.interval.low, True)}, {_num(p.interval.high, True)}]" if p.interval else "—"
            hover = escape(f"{p.interval.method}" if p.interval else "")
            p_text = "—" if c.p_adjusted is None else f"{c.p_adjusted:.4f}"
            seeds = f'<td data-role="paired-seeds">{c.seeds_a}/{c.seeds_b}</td>' if comparison.seeded else ""
            rows.append(
                f'<tr data-benchmark="{escape(c.benchmark)}" data-verdict="{c.verdict}">'
                f"<td>{escape(c.benchmark)}</td><td>{p.n_units}</td>{seeds}<td>{_num(p.a)}</td><td>{_num(p.b)}</td>"
                f'<td data-role="paired-diff">{_num(p.difference, True)}</td>'
                f'<td data-role="paired-interval" title="{hover}">{interval}</td>'
                f'<td data-role="p-holm" title="{escape(p.test)}">{p_text}</td>'
                f'<td data-role="paired-verdict">{c.verdict}</td>'
                f'<td title="{escape(p.mde_method)}">{_num(p.mde)}</td><td>{escape(p.test)}</td></tr>'
            )
            flips += [(c.benchmark, flip) for flip in c.flips]
        parts += [
            f'<div class="settings" data-role="subset">{escape(n)}</div>' for n in subset_notes(comparison)
        ]
        seeds_head = '<th title="sampling seeds of A and of B">seeds A/B</th>' if comparison.seeded else ""
        seeds_note = f' <span class="muted">{escape(SEEDS_NOTE)}</span>' if comparison.seeded else ""
        parts.append(
            '<table class="scores" data-role="paired"><thead><tr><th>benchmark</th><th>units</th>'
            f"{seeds_head}<th>A</th><th>B</th><th>B − A</th><th>95% interval</th><th>p (Holm)</th><th>verdict</th>"
            "<th>detectable at 80% power</th><th>test</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f'<p data-role="suite-line"><b>{escape(comparison.suite_line)}</b> (Holm-adjusted p &lt; 0.05). '
            f'<span class="muted">Paired bootstrap over scoring units, {comparison.resamples} resamples, '
            f"seed {comparison.seed}; the same numbers as <code>vleval compare</code>.</span>{seeds_note}</p>"
        )
    parts.append(_flips_list(flips))
    return "".join(parts)


def _flips_list(flips: list) -> str:
    benchmarks = sorted({b for b, _ in flips})
    options = "".join(f'<option value="{escape(b)}">{escape(b)}</option>' for b in benchmarks)
    rows = []
    for benchmark, flip in flips:
        for row in flip.rows:
            rows.append(
                f'<tr data-benchmark="{escape(benchmark)}" data-unit="{escape(flip.unit)}">'
                f"<td>{escape(benchmark)}</td><td>{escape(flip.unit)}</td>"
                f"<td>{_outcome(flip.a_value)} → {_outcome(flip.b_value)}</td>"
                f"<td>{escape(str(row.index))}</td><td>{escape(row.question or '')}</td>"
                f"<td>{escape(row.a.prediction or '')}</td><td>{escape(str(row.a.extracted))}</td>"
                f"<td>{escape(row.b.prediction or '')}</td><td>{escape(str(row.b.extracted))}</td></tr>"
            )
    return (
        "<h3>Units that flipped</h3>"
        f'<p><label>benchmark <select id="flip-benchmark"><option value="">all</option>{options}</select></label> '
        '<label>text <input id="flip-text" type="search" placeholder="question, prediction..."></label> '
        f'<span class="muted"><span id="flip-count">{len(rows)}</span> of {len(rows)} rows</span></p>'
        '<table class="scores" id="flips"><thead><tr><th>benchmark</th><th>unit</th><th>unit A → B</th>'
        "<th>index</th><th>question</th><th>A prediction</th><th>A extracted</th><th>B prediction</th>"
        f"<th>B extracted</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<script>{_FLIPS_SCRIPT}</script>"
    )
