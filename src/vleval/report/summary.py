"""The models x benchmarks table: our score, the published score, the difference, the settings.

Both numbers are on the 0-100 scale (``ScoreRecord.headline``, and ``published.py``). Where the published
figure is the better of a direct and a chain-of-thought run (MMMU in the InternVL2.5 report) and both
runs are present, the cell uses the better one and keeps both; otherwise the newest run is used.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vleval.report.collect import BenchmarkRun
from vleval.report.format import MISSING, caveat, censoring_text, score_text
from vleval.report.published import PublishedScore, PublishedTable, load_published, published_for

SCALE_NOTE = (
    "Scores and intervals on each benchmark's own scale: accuracies in percent (0-100); "
    "OCRBench = Final Score / 10 (0-100); HallusionBench = mean(aAcc, fAcc, qAcc); LLaVABench = "
    "relative score, percent of the GPT-4 answer's score, which exceeds 100 when the model's answers "
    "are graded higher."
)


@dataclass
class Cell:
    model: str
    benchmark: str
    runs: list[BenchmarkRun]
    chosen: BenchmarkRun
    rule: str
    published: PublishedScore | None = None

    @property
    def ours(self) -> float | None:
        return self.chosen.score

    @property
    def diff(self) -> float | None:
        if self.ours is None or self.published is None:
            return None
        return self.ours - self.published.score

    def flagged(self, threshold: float) -> bool:
        return self.diff is not None and abs(self.diff) > threshold

    def run_label(self, run: BenchmarkRun) -> str:
        cot = {True: "CoT", False: "direct", None: "run"}[run.settings.cot]
        return f"{cot} {score_text(run.record, interval=False)}"


@dataclass
class Summary:
    cells: list[Cell]
    threshold: float
    models: list[str] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)

    def cell(self, model: str, benchmark: str) -> Cell | None:
        for cell in self.cells:
            if cell.model == model and cell.benchmark == benchmark:
                return cell
        return None


def _choose(runs: list[BenchmarkRun], published: PublishedScore | None) -> tuple[BenchmarkRun, str]:
    if len(runs) == 1:
        return runs[0], "single run"
    scored = [r for r in runs if r.score is not None]
    by_cot = {r.settings.cot for r in scored}
    if published is not None and published.best_of_direct_and_cot and {True, False} <= by_cot:
        best = max(scored, key=lambda r: r.score)  # type: ignore[arg-type,return-value]
        return best, "best of direct and CoT runs (as the published figure is)"
    newest = max(runs, key=lambda r: r.pred_file.stat().st_mtime)
    return newest, f"newest of {len(runs)} runs"


def build_summary(
    runs: Iterable[BenchmarkRun], *, threshold: float = 1.0, published: PublishedTable | None = None
) -> Summary:
    published = load_published() if published is None else published
    grouped: dict[tuple[str, str], list[BenchmarkRun]] = {}
    for run in runs:
        grouped.setdefault((run.model, run.benchmark), []).append(run)
    cells = []
    for (model, benchmark), group in grouped.items():
        entry = published_for(published, model, benchmark)
        chosen, rule = _choose(group, entry)
        cells.append(Cell(model, benchmark, group, chosen, rule, entry))
    models = sorted({c.model for c in cells})
    benchmarks = sorted({c.benchmark for c in cells})
    return Summary(cells=cells, threshold=threshold, models=models, benchmarks=benchmarks)


def diff_text(value: float | None) -> str:
    return MISSING if value is None else f"{value:+.2f}"


# run.json's judge tally of the chosen run: calls sent, cache hits, calls that failed, tokens
JUDGE_TALLY_COLUMNS = (
    "judge_calls",
    "judge_cache_hits",
    "judge_call_failures",
    "judge_prompt_tokens",
    "judge_completion_tokens",
)
CSV_COLUMNS = (
    "model",
    "benchmark",
    "ours",
    "published",
    "diff",
    "flagged",
    "ours_metric",
    "cot",
    "judge",
    "protocol",
    "vleval_version",
    "runs",
    "rule",
    "samples",
    "failed",
    "judge_failed",
    "missing_predictions",
    "status",
    "published_metric",
    "published_source",
    "pred_file",
    "interval_low",
    "interval_high",
    "interval_method",
    "censoring",
    "bounds_low",
    "bounds_high",
    "verdict",
    *JUDGE_TALLY_COLUMNS,
)


def summary_rows(summary: Summary) -> list[dict[str, str]]:
    rows = []
    for cell in sorted(summary.cells, key=lambda c: (c.model, c.benchmark)):
        settings = cell.chosen.settings
        record = cell.chosen.record
        rows.append(
            {
                "model": cell.model,
                "benchmark": cell.benchmark,
                "ours": "" if cell.ours is None else f"{cell.ours:.4f}",
                "published": "" if cell.published is None else f"{cell.published.score:g}",
                "diff": "" if cell.diff is None else f"{cell.diff:.4f}",
                "flagged": "yes" if cell.flagged(summary.threshold) else "",
                "ours_metric": cell.chosen.label,
                "cot": {True: "on", False: "off", None: ""}[settings.cot],
                "judge": settings.judge or "",
                "protocol": settings.protocol or "",
                "vleval_version": settings.version or "",
                "runs": "; ".join(cell.run_label(r) for r in cell.runs),
                "rule": cell.rule,
                "samples": str(len(cell.chosen.samples)),
                "failed": str(cell.chosen.n_failed),
                "judge_failed": str(cell.chosen.n_judge_failed),
                "missing_predictions": str(record.counts.missing_predictions if record else 0),
                "status": _status(cell.chosen),
                "published_metric": cell.published.metric if cell.published else "",
                "published_source": cell.published.source if cell.published else "",
                "pred_file": str(cell.chosen.pred_file),
                **_uncertainty_columns(cell),
                **_judge_tally_columns(cell.chosen),
            }
        )
    return rows


def _uncertainty_columns(cell: Cell) -> dict[str, str]:
    from vleval.report.verdicts import cell_verdict, verdict_summary

    record = cell.chosen.record
    found = record.intervals.get("headline") if record is not None else None
    bounds = record.bounds if record is not None else None
    return {
        "interval_low": "" if found is None else f"{found.low:.4f}",
        "interval_high": "" if found is None else f"{found.high:.4f}",
        "interval_method": "" if found is None else found.method,
        "censoring": censoring_text(record),
        "bounds_low": "" if bounds is None else f"{bounds[0]:.4f}",
        "bounds_high": "" if bounds is None else f"{bounds[1]:.4f}",
        "verdict": verdict_summary(cell_verdict(cell)) if cell.published is not None else "",
    }


def _judge_tally_columns(run: BenchmarkRun) -> dict[str, str]:
    """run.json's judge tally (empty where none was recorded: no judge, older or VLMEvalKit runs)."""
    found = run.judge_tally
    if found is None:
        return dict.fromkeys(JUDGE_TALLY_COLUMNS, "")
    return {
        "judge_calls": str(found.calls),
        "judge_cache_hits": str(found.cache_hits),
        "judge_call_failures": str(found.failures),
        "judge_prompt_tokens": str(found.prompt_tokens),
        "judge_completion_tokens": str(found.completion_tokens),
    }


def _status(run: BenchmarkRun) -> str:
    if run.record is None or run.score is None:
        return "not scored"
    return caveat(run.record) or "complete"


def summary_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(summary))
    return buffer.getvalue()


def cell_text(cell: Cell | None, threshold: float) -> str:
    """``ours / published (diff)``, with ``!`` when beyond the threshold."""
    if cell is None:
        return ""
    text = score_text(cell.chosen.record)
    if cell.published is not None:
        text += f" / {cell.published.score:.1f} ({diff_text(cell.diff)})"
        if cell.flagged(threshold):
            text += " !"
    return text


def summary_markdown(summary: Summary, notes: Iterable[str] = ()) -> str:
    lines = ["# vleval summary", ""]
    lines += [f"> {note}" for note in notes]
    if notes:
        lines.append("")
    lines.append(
        f"Each cell: our score [its 95% interval] / published InternVL2.5 score (difference); `!` = "
        f"|difference| > {summary.threshold:g}. {SCALE_NOTE}"
    )
    lines.append("")
    lines.append("| model | " + " | ".join(summary.benchmarks) + " |")
    lines.append("| --- " * (len(summary.benchmarks) + 1) + "|")
    for model in summary.models:
        cells = [cell_text(summary.cell(model, b), summary.threshold) for b in summary.benchmarks]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", "## Settings per cell", ""]
    lines.append(
        "| model | benchmark | settings | runs | rule | published source | against published | censoring "
        "| judge calls |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for cell in sorted(summary.cells, key=lambda c: (c.model, c.benchmark)):
        source = cell.published.source.split(";")[0] if cell.published else "none published"
        runs = "; ".join(cell.run_label(r) for r in cell.runs)
        extra = _uncertainty_columns(cell)
        tally = cell.chosen.judge_tally
        lines.append(
            f"| {cell.model} | {cell.benchmark} | {cell.chosen.settings.describe()} | {runs} | {cell.rule} "
            f"| {source} | {extra['verdict'] or '—'} | {extra['censoring'] or '—'} "
            f"| {tally.describe() if tally else '—'} |"
        )
    return "\n".join(lines) + "\n"


def summary_table_text(summary: Summary) -> str:
    """A plain fixed-width table for the terminal."""
    header = ["model"] + summary.benchmarks
    body = [
        [model] + [cell_text(summary.cell(model, b), summary.threshold) or "—" for b in summary.benchmarks]
        for model in summary.models
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_summary_files(summary: Summary, folder: Path, notes: Iterable[str] = ()) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = folder / "summary.md", folder / "summary.csv"
    md_path.write_text(summary_markdown(summary, list(notes)), encoding="utf-8")
    csv_path.write_text(summary_csv(summary), encoding="utf-8")
    return md_path, csv_path
