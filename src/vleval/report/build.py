"""Programmatic entry points: ``write_report`` and ``write_compare`` (the CLI and the demo call these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vleval.console import step
from vleval.errors import DataMissingError
from vleval.report.collect import BenchmarkRun, collect_runs
from vleval.report.compare import compare_runs, render_compare
from vleval.report.html import render_report
from vleval.report.images import thumbnail_loader
from vleval.report.paired import paired_comparisons, paired_section
from vleval.report.protocol_diffs import find_protocol_diffs
from vleval.report.summary import Prefer, Summary, build_summary, write_summary_files
from vleval.settings import RULE_ONLY_MARK, STAND_IN_MARK, SYNTHETIC_MARK, UNVERIFIED_MARK, marks

DEFAULT_THUMBNAILS = 200  # per benchmark; keeps a full 12-benchmark report to a few MB


@dataclass
class ReportFiles:
    html: Path
    summary_md: Path
    summary_csv: Path
    summary: Summary


def _collect(work_dirs: Sequence[Path], data_dir: Path | None, thumbnails: int) -> list[BenchmarkRun]:
    loader = thumbnail_loader(data_dir, thumbnails)
    runs: list[BenchmarkRun] = []
    seen: set[Path] = set()
    for work_dir in work_dirs:
        for run in collect_runs(Path(work_dir), thumbnails=loader):
            if run.pred_file.resolve() not in seen:  # the same directory given twice
                seen.add(run.pred_file.resolve())
                runs.append(run)
    if not runs:
        dirs = ", ".join(str(d) for d in work_dirs)
        raise DataMissingError(
            f"no prediction files (<model>/<model>_<benchmark>.xlsx) found under {dirs}; "
            "run `vleval run --work-dir DIR ...` first, or point --work-dir at the directory it wrote."
        )
    return runs


def record_banners(runs: Sequence[BenchmarkRun]) -> list[str]:
    """One banner per mark the results carry in their settings records (``vleval.settings.marks``)."""
    found = {mark for run in runs for mark in marks(run.settings.full)}
    texts = {
        SYNTHETIC_MARK: "Results marked 'synthetic random-weight checkpoint' come from a RANDOM-WEIGHT model built by "
        "vleval.synthetic: their scores mean nothing about InternVL2.5.",
        UNVERIFIED_MARK: "Results marked 'unverified checkpoint' come from a checkpoint that does not match the "
        "registry's card of its name: they are not compared with the published figures.",
        STAND_IN_MARK: "Results marked 'stand-in judge' were judged by a local deterministic stand-in, not by an "
        "LLM: the judge names shown are the ones the protocol would call.",
        RULE_ONLY_MARK: "Results marked 'rule-only' were scored without the judge their protocol names: answers "
        "the rules could not read were not judged, so they are not the protocol's numbers.",
    }
    return [text for mark, text in texts.items() if mark in found]


def write_report(
    work_dirs: Sequence[Path],
    out: Path | None = None,
    *,
    threshold: float = 1.0,
    data_dir: Path | None = None,
    notes: Iterable[str] = (),
    thumbnails: int = DEFAULT_THUMBNAILS,
    title: str = "vleval report",
    prefer: Prefer = "complete",
    order: Sequence[str] = (),
) -> ReportFiles:
    """Read every run under ``work_dirs`` and write ``out`` (default ``<first work dir>/report.html``)
    plus ``summary.md`` and ``summary.csv`` beside it. The banners of what the records carry (a
    synthetic checkpoint, a stand-in judge) come first, whoever writes the report."""
    runs = _collect(work_dirs, data_dir, thumbnails)
    step(f"building the report of {len(runs)} run(s)")
    summary = build_summary(runs, threshold=threshold, prefer=prefer, order=order)
    out = Path(out) if out else Path(work_dirs[0]) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    notes = [*record_banners(runs), *notes]
    diffs = find_protocol_diffs(work_dirs)  # left by `vleval diff-protocols --work-dir`
    out.write_text(render_report(summary, notes=notes, title=title, protocol_diffs=diffs), encoding="utf-8")
    md_path, csv_path = write_summary_files(summary, out.parent, notes)
    step(None)
    return ReportFiles(html=out, summary_md=md_path, summary_csv=csv_path, summary=summary)


def write_compare(
    dir_a: Path,
    dir_b: Path,
    out: Path | None = None,
    *,
    data_dir: Path | None = None,
    thumbnails: int = DEFAULT_THUMBNAILS,
) -> Path:
    """Compare two work directories; writes ``out`` (default ``<dir_b>/compare.html``)."""
    runs_a = _collect([dir_a], data_dir, thumbnails)
    runs_b = _collect([dir_b], data_dir, thumbnails)
    step(f"comparing {len(runs_a)} and {len(runs_b)} run(s)")
    changes = compare_runs(runs_a, runs_b)
    paired_a = {id(c.a) for c in changes}
    paired_b = {id(c.b) for c in changes}
    unpaired = [f"only in A: {r.model} · {r.benchmark}" for r in runs_a if id(r) not in paired_a]
    unpaired += [f"only in B: {r.model} · {r.benchmark}" for r in runs_b if id(r) not in paired_b]
    out = Path(out) if out else Path(dir_b) / "compare.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    paired = paired_section(*paired_comparisons(Path(dir_a), Path(dir_b)))
    out.write_text(
        render_compare(changes, str(dir_a), str(dir_b), unpaired=unpaired, paired=paired), encoding="utf-8"
    )
    step(None)
    return out
