"""The models x benchmarks table: our score, the published score, the difference, the settings.

Both numbers are on the 0-100 scale (``ScoreRecord.headline``, and ``published.py``). Where the published
figure is the better of a direct and a chain-of-thought run (MMMU in the InternVL2.5 report) and both
runs are present, the cell uses the better one and keeps both; otherwise the newest run is used.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vleval.errors import VlevalError
from vleval.families.base import scale_note
from vleval.report.collect import BenchmarkRun
from vleval.report.format import MISSING, caveat, censoring_text, score_text
from vleval.report.published import PublishedScore, PublishedTable, load_published, published_for
from vleval.settings import comparable_with_published, distinguishing, marks, same_except


@dataclass
class Cell:
    model: str
    benchmark: str
    runs: list[BenchmarkRun]
    chosen: BenchmarkRun
    rule: str
    published: PublishedScore | None = None
    variant: str = ""  # what differs from the other runs of this model and benchmark shown beside it

    @property
    def row(self) -> str:
        """The table row: the model, and for a run made otherwise than its neighbours, how."""
        return f"{self.model} [{self.variant}]" if self.variant else self.model

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
        """The cell of a table row (``Cell.row``: a model, or a model and the variant) and benchmark."""
        for cell in self.cells:
            if cell.row == model and cell.benchmark == benchmark:
                return cell
        return None


Prefer = Literal["complete", "newest"]


def _merge_same(runs: list[BenchmarkRun], prefer: Prefer) -> tuple[BenchmarkRun, str]:
    """Runs of one model and benchmark made the same way: the complete one wins; two complete ones
    with different numbers are an error (naming both files) unless ``prefer='newest'``."""
    if len(runs) == 1:
        return runs[0], "single run"
    complete = [r for r in runs if r.score is not None and r.record is not None and not caveat_blocks(r)]
    pool = complete or runs
    newest = max(pool, key=lambda r: r.pred_file.stat().st_mtime)
    numbers = {round(r.score, 6) for r in complete if r.score is not None}
    if len(numbers) > 1:
        if prefer != "newest":
            files = " and ".join(str(r.pred_file) for r in complete)
            raise VlevalError(
                f"{runs[0].model} {runs[0].benchmark}: two complete runs with the same settings give different "
                f"numbers ({files}); keep one, or pass --prefer newest to use the newest (stated on the cell)."
            )
        return newest, f"newest of {len(complete)} complete runs with the same settings (--prefer newest)"
    if complete and len(complete) < len(runs):
        return newest, f"the complete one of {len(runs)} runs with the same settings"
    return newest, f"{len(runs)} runs with the same settings and the same number"


def caveat_blocks(run: BenchmarkRun) -> bool:
    """Not a complete result: judge calls failed, or rows without a prediction."""
    record = run.record
    return record is None or bool(record.counts.failed or record.partial or record.counts.missing_predictions)


def _variants(group: list[BenchmarkRun]) -> list[list[BenchmarkRun]]:
    """The runs of one model and benchmark split by how they were made (every setting but versions
    and batch size): each part is one experiment."""
    parts: list[list[BenchmarkRun]] = []
    for run in group:
        for part in parts:
            if same_except(part[0].settings.full, run.settings.full):
                part.append(run)
                break
        else:
            parts.append([run])
    return parts


def _cells_of(
    model: str, benchmark: str, group: list[BenchmarkRun], entry: PublishedScore | None, prefer: Prefer
) -> list[Cell]:
    parts = _variants(group)
    chosen = [_merge_same(part, prefer) for part in parts]
    if (
        len(parts) == 2
        and entry is not None
        and entry.best_of_direct_and_cot
        and {p[0].settings.full.cot for p in parts} == {True, False}
        and same_except(parts[0][0].settings.full, parts[1][0].settings.full, "CoT")
        and all(run.score is not None for run, _ in chosen)
    ):
        by_cot = {run.settings.full.cot: run for run, _ in chosen}
        best = max(by_cot.values(), key=lambda r: r.score or 0.0)
        rule = f"best of direct {by_cot[False].score:.1f} / CoT {by_cot[True].score:.1f} (as the published figure is)"
        return [Cell(model, benchmark, group, best, rule, entry)]
    if len(parts) == 1:
        run, rule = chosen[0]
        return [Cell(model, benchmark, group, run, rule, entry)]
    labels = distinguishing([run.settings.full for run, _ in chosen])
    return [
        Cell(
            model,
            benchmark,
            part,
            run,
            f"{rule}; side by side with runs made otherwise",
            entry,
            variant=label,
        )
        for part, (run, rule), label in zip(parts, chosen, labels, strict=True)
    ]


def build_summary(
    runs: Iterable[BenchmarkRun],
    *,
    threshold: float = 1.0,
    published: PublishedTable | None = None,
    prefer: Prefer = "complete",
    order: Sequence[str] = (),
) -> Summary:
    """Cells of models x benchmarks. Runs of one model and benchmark made differently are kept side
    by side (one row per variant, labelled by what differs); see ``_cells_of``. ``order``: benchmark
    order (``--data``'s), else the paper's (the published table's), then by name."""
    published = load_published() if published is None else published
    grouped: dict[tuple[str, str], list[BenchmarkRun]] = {}
    for run in runs:
        grouped.setdefault((run.model, run.benchmark), []).append(run)
    cells: list[Cell] = []
    for (model, benchmark), group in grouped.items():
        entry = published_for(published, model, benchmark)
        for cell in _cells_of(model, benchmark, group, entry, prefer):
            if not comparable_with_published(cell.chosen.settings.full):
                cell.published = None  # not the named model: never set beside its published figure
            cells.append(cell)
    models = sorted({c.row for c in cells})
    paper = list(dict.fromkeys(benchmark for _, benchmark in published))  # the paper's table order
    rank: dict[str, int] = {}
    for name in [*order, *paper]:  # --data's order first, then the paper's
        rank.setdefault(name, len(rank))
    benchmarks = sorted({c.benchmark for c in cells}, key=lambda b: (rank.get(b, len(rank)), b))
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
# ``vleval judge-calibrate`` on the chosen run's predictions: the PPI-corrected estimate of the protocol
# judge's score, never the "ours" column; several cheap judges are joined by "; " in judge order
PPI_COLUMNS = ("ppi_label", "ppi_corrected", "ppi_interval_low", "ppi_interval_high", "ppi_local_score")
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
    "variant",  # what differs from the other runs of this model and benchmark shown beside it
    "settings",  # CoT, judge, protocol, version and every non-default setting (vleval.settings)
    "marks",  # e.g. "unverified checkpoint; rule-only: the protocol's judge was not used"
    *PPI_COLUMNS,
)


def summary_rows(summary: Summary) -> list[dict[str, str]]:
    rows = []
    for cell in sorted(summary.cells, key=lambda c: (c.row, c.benchmark)):
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
                "variant": cell.variant,
                "settings": settings.describe(),
                "marks": "; ".join(marks(settings.full)),
                **_ppi_columns(cell.chosen),
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


def _ppi_columns(run: BenchmarkRun) -> dict[str, str]:
    found = run.calibrations
    return {
        "ppi_label": "; ".join(c.label for c in found),
        "ppi_corrected": "; ".join(f"{c.corrected:.4f}" for c in found),
        "ppi_interval_low": "; ".join(f"{c.interval.low:.4f}" for c in found),
        "ppi_interval_high": "; ".join(f"{c.interval.high:.4f}" for c in found),
        "ppi_local_score": "; ".join(f"{c.local_score:.4f}" for c in found),
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
        f"|difference| > {summary.threshold:g}. {scale_note()}"
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
    for cell in sorted(summary.cells, key=lambda c: (c.row, c.benchmark)):
        source = cell.published.source.split(";")[0] if cell.published else "none published"
        runs = "; ".join(cell.run_label(r) for r in cell.runs)
        extra = _uncertainty_columns(cell)
        tally = cell.chosen.judge_tally
        lines.append(
            f"| {cell.row} | {cell.benchmark} | {cell.chosen.settings.describe()} | {runs} | {cell.rule} "
            f"| {source} | {extra['verdict'] or '—'} | {extra['censoring'] or '—'} "
            f"| {tally.describe() if tally else '—'} |"
        )
    figures = [
        f"- {cell.model} / {cell.benchmark}: {line}"
        for cell in sorted(summary.cells, key=lambda c: (c.model, c.benchmark))
        for line in cell.chosen.figures()
    ]
    if figures:  # MMStar's gain and leakage, MMBench's rotation consistency, judge calibrations
        lines += ["", "## Beside the accuracy", "", *figures]
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
