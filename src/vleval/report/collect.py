"""Read a finished work directory (reference layout) into plain records for the report.

Layout read (``docs/running.md``): ``<work-dir>/<model>/<model>_<data>.xlsx`` predictions; beside them vleval's result
contract (``<stem>_score.json`` or ``<stem>_vleval.json``: a ``ScoreRecord``; ``<stem>_rows.jsonl``:
``RowResult`` lines, read through ``vleval.datasets.results``), ``<model>_<data>_prompts.jsonl``
(full prompts, ``vleval run --save-prompts``) and ``<work-dir>/<model>/run.json`` (settings and
versions, a ``RunManifest``); model folders, prediction files and run.json are found and read by
``vleval.workdir``. Samples come from the rows when they carry their question (the prediction file
otherwise). A run made with VLMEvalKit has only the reference's own
result files: the benchmark's family reads them (``BenchmarkFamily.read_reference``). Files that are
missing are skipped and the report says what it could not show; nothing here imports a model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.console import step
from vleval.datasets.cells import cell_text
from vleval.datasets.registry import get_benchmark
from vleval.datasets.results import ROWS_SUFFIX, read_rows, read_score, rows_path, score_record_path
from vleval.errors import DataCorruptError, VlevalError
from vleval.families.base import BenchmarkFamily, family_of
from vleval.judge.client import JudgeStats
from vleval.protocol import JUDGE_MODEL_IDS, PROTOCOLS
from vleval.report.format import calibration_text, figures_text, headline_value
from vleval.settings import RULE_ONLY_MARK, non_defaults, settings_of
from vleval.transport import redact_url
from vleval.types import (
    FAILURE_PREFIX,
    EvalSettings,
    JudgeCalibration,
    ManifestBenchmark,
    RowResult,
    RunManifest,
    ScoreRecord,
)
from vleval.workdir import (
    model_dirs,
    prediction_files,
    read_manifest,
    refuse_model_folder,  # noqa: F401  (its old home, for callers not yet moved)
)
from vleval.workflows.judge_calibrate import read_calibrations

find_prediction_files = prediction_files  # its name here before vleval.workdir, for callers not yet moved

OPTION_LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass
class RunSettings:
    """The report's view of a result's settings: the judge as the report names it, and ``full``, the
    settings record (``vleval.settings.settings_of``) every other field is read from."""

    cot: bool | None = None
    judge: str | None = None
    protocol: str | None = None
    version: str | None = None  # vleval version that produced the files
    judge_endpoint: str | None = None  # base URL when the run recorded one
    backend: str | None = None  # run.json settings (None: not recorded, e.g. a VLMEvalKit run)
    dtype: str | None = None
    md5_matches: bool | None = None  # the benchmark file's md5 is the one the protocol pins
    full: EvalSettings = field(default_factory=EvalSettings)

    @property
    def judge_is_local(self) -> bool:
        """The judge answered from this machine (e.g. the demo's deterministic stand-in)."""
        return bool(self.judge_endpoint) and any(
            host in str(self.judge_endpoint) for host in ("127.0.0.1", "localhost", "[::1]")
        )

    def describe(self) -> str:
        cot = {True: "CoT on", False: "CoT off", None: "CoT ?"}[self.cot]
        judge = self.judge or "?"
        if self.judge_is_local and not judge.startswith("none"):
            judge += f" (served locally at {self.judge_endpoint})"
        head = [cot, f"judge {judge}", f"protocol {self.protocol or '?'}", f"vleval {self.version or '?'}"]
        return " · ".join(head + non_defaults(self.full, skip=("CoT", "judge", "protocol")))


@dataclass
class SampleRecord:
    index: str
    category: str = ""
    question: str = ""
    options: dict[str, str] = field(default_factory=dict)
    answer: str = ""
    prediction: str = ""
    extracted: str = ""
    hit: bool | None = None
    verdict: str = ""  # how it was decided, the score and the judge's log
    failed: bool = False  # inference failed for this sample
    judge_failed: bool = False  # its judge call failed (the benchmark is incomplete)
    prompt: str = ""
    tiles: list[int] = field(default_factory=list)
    image: str = ""  # data: URI thumbnail


@dataclass
class JudgeTally(JudgeStats):
    """What the judge did for one benchmark run, as ``run.json`` records it (``datasets.<benchmark>.judge``,
    written by ``vleval.workflows.bill.tally`` from ``vleval.judge.client.JudgeStats``): ``calls`` HTTP
    attempts sent (retries included), ``cache_hits`` requests answered from the judge cache,
    ``failures`` requests left without an answer after their retries, tokens from the replies' usage."""

    model: str = ""
    kind: str = ""  # "api" or "local"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def describe(self) -> str:
        """e.g. ``12 calls (3 cached), 0 failed, 4,210 tokens (4,150 in / 60 out)``."""
        return (
            f"{self.calls:,} calls ({self.cache_hits:,} cached), {self.failures:,} failed, "
            f"{self.tokens:,} tokens ({self.prompt_tokens:,} in / {self.completion_tokens:,} out)"
        )


def read_judge_tally(dataset: ManifestBenchmark | None) -> JudgeTally | None:
    """The judge tally of one run record's benchmark entry; None where the run recorded none (no judge,
    a rule-based benchmark, an older run.json, a VLMEvalKit run)."""
    found = dataset.judge if dataset is not None else None
    if not isinstance(found, dict):
        return None

    def count(key: str) -> int:
        value = found.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    counts = {f.name: count(f.name) for f in fields(JudgeStats) if f.name != "last_error"}
    return JudgeTally(model=str(found.get("model") or ""), kind=str(found.get("kind") or ""), **counts)


@dataclass
class BenchmarkRun:
    model: str
    benchmark: str
    work_dir: Path
    pred_file: Path
    settings: RunSettings
    record: ScoreRecord | None  # vleval's, or one read from the reference's own result files
    samples: list[SampleRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    judge_tally: JudgeTally | None = None  # run.json's record of the judge calls (None: not recorded)
    # ``vleval judge-calibrate`` results on these predictions (``workflows.judge_calibrate.read_calibrations``):
    # shown beside the number, never in its place
    calibrations: list[JudgeCalibration] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        """The 0-100 headline (None: not scored)."""
        return headline_value(self.record)

    @property
    def label(self) -> str:
        """What the number is."""
        if self.record is None:
            return "not scored"
        unit = f" ({self.record.headline_unit})" if self.record.headline_unit else ""
        return f"{self.record.headline_name}{unit}"

    def figures(self) -> list[str]:
        """The lines shown beside the number (``format.figures_text``): the record's own figures, then
        each judge calibration of these predictions (``format.calibration_text``)."""
        own = self.record.judge_calibration if self.record is not None else None
        return [
            *figures_text(self.record),
            *(calibration_text(c) for c in self.calibrations if c != own),
        ]

    @property
    def n_failed(self) -> int:
        return sum(s.failed for s in self.samples)

    @property
    def n_judge_failed(self) -> int:
        return self.record.counts.failed if self.record else 0


# --------------------------------------------------------------------------------------------------
# the settings of one benchmark run (its run record: ``vleval.workdir.read_manifest``)
# --------------------------------------------------------------------------------------------------
def read_settings(
    run: RunManifest | None, record: ScoreRecord | None, family: BenchmarkFamily | None, benchmark: str
) -> RunSettings:
    """Settings of one benchmark run: the ScoreRecord's protocol and judge, run.json's CoT and version.
    Without a vleval record (a VLMEvalKit run), the judge is the protocol's default for the family."""
    settings = run.options_for(benchmark) if run is not None else {}
    protocol = (record.protocol if record is not None and record.protocol else None) or (
        run.protocol.name if run is not None and run.protocol is not None else None
    )
    endpoint = settings.get("judge_base_url")
    if record is not None and record.protocol:  # scored by vleval: it recorded its judge
        if record.judge is not None:
            judge = record.judge.model
            endpoint = record.judge.endpoint or endpoint
        else:
            judge = (
                "none (rule-based)"
                if family is None or family.judge_role is None
                else f"none ({RULE_ONLY_MARK})"
            )
    else:
        judge = settings.get("judge") or _default_judge(family, benchmark, protocol)
    full = settings_of(record, run, benchmark)
    return RunSettings(
        cot=full.cot,
        judge=None if judge is None else str(judge),
        protocol=protocol,
        version=full.vleval_version,
        # run.json of an older vleval may hold the URL as typed: never show its credentials
        judge_endpoint=None if endpoint is None else redact_url(str(endpoint)),
        backend=full.backend,
        dtype=full.dtype,
        md5_matches=full.data_md5_matches,
        full=full,
    )


def _default_judge(family: BenchmarkFamily | None, benchmark: str, protocol: str | None) -> str | None:
    if family is None:
        return None
    if family.judge_role is None:
        return "none (rule-based)"
    if protocol not in PROTOCOLS:
        return None
    short = family.default_judge(PROTOCOLS[protocol], get_benchmark(benchmark))
    return None if short is None else f"{JUDGE_MODEL_IDS.get(short, short)} (protocol default, not recorded)"


# --------------------------------------------------------------------------------------------------
# the result of one benchmark run
# --------------------------------------------------------------------------------------------------
def read_result(
    benchmark: str, family: BenchmarkFamily | None, stem: Path, judge_model: str | None = None
) -> tuple[ScoreRecord | None, list[RowResult], list[str]]:
    """vleval's ScoreRecord and rows beside ``<stem>.xlsx``; without them (a run made with VLMEvalKit)
    what the family reads from the reference's own result files. Also notes on what was missing."""
    notes: list[str] = []
    record = None
    try:
        path = score_record_path(stem)
        record = read_score(path) if path is not None else None
    except DataCorruptError as exc:
        notes.append(str(exc))
    if record is None and family is not None:
        record = family.read_reference(stem, judge_model)
        if record is not None:
            record.dataset = benchmark
    if record is None:
        notes.append("not scored yet (no result files found)")
    rows: list[RowResult] = []
    rows_file = rows_path(stem)
    if rows_file.is_file():
        rows = read_rows(rows_file, skip_bad=True)  # an interrupted write may leave a cut last line
    if not rows and family is not None:  # none, or not of this schema: the reference's own record
        rows = family.reference_rows(stem)
    if not rows:
        notes.append(f"no per-row verdicts ({ROWS_SUFFIX}) found: hit/miss unknown")
    return record, rows, notes


# --------------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a truncated last line from an interrupted run: skip it
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _collapse_image_tokens(prompt: str) -> str:
    """The templated prompt repeats <IMG_CONTEXT> 256 times per tile: show the count instead."""
    return re.sub(
        r"(?:<IMG_CONTEXT>)+",
        lambda m: f"<IMG_CONTEXT>×{len(m.group(0)) // len('<IMG_CONTEXT>')}",
        prompt,
    )


def _tiles(value: Any) -> list[int]:
    if not isinstance(value, list | tuple):
        return []
    try:
        return [int(t) for t in value]
    except (TypeError, ValueError):
        return []


def _hit(row: RowResult | None, graded: bool) -> bool | None:
    """Right or wrong; None for a graded row (its score is shown instead) or one never examined."""
    if row is None or graded or row.score is None:
        return None
    return row.score == 1


def _verdict(row: RowResult | None, graded: bool) -> str:
    if row is None:
        return ""
    how = {
        "rule": "matched by rule",
        "judge": "decided by the judge",
        "fallback": "the protocol's fallback",
        "failed": "the judge call failed (incomplete)",
        "unparsed": "no answer could be read",
        "skipped": "not examined (an earlier rotation of its question was wrong)",
    }[row.decided_by]
    parts = [how]
    if graded and row.score is not None:
        parts.append(f"score {cell_text(row.score)}")
    parts += [log for log in row.judge_log if log]
    return " · ".join(parts)


def _shown_columns(row: RowResult) -> dict[str, Any]:
    """A scored row as the prediction file's columns the sample browser shows."""
    return {
        "index": row.index,
        "category": row.category,
        "question": row.question,
        "answer": row.answer,
        "prediction": row.prediction,
        **row.options,
    }


def rows_are_graded(family: BenchmarkFamily | None, benchmark: str) -> bool:
    """Whether the benchmark's rows carry a grade, shown as their score (MM-Vet, LLaVA-Bench), rather
    than right or wrong: asked of its card's metric (``metric_of``), since one family's cards may be
    scored by different rules (the Y/N family's MME and POPE are not HallusionBench's mean of three)."""
    return family is not None and family.metric_of(get_benchmark(benchmark)).graded


def read_samples(
    pred_file: Path,
    rows: list[RowResult],
    *,
    graded: bool = False,
    images: dict[str, str] | None = None,
    scored_rows: int | None = None,
) -> tuple[list[SampleRecord], list[str]]:
    """One record per prediction row, joined with its RowResult and prompt; also notes on what is
    missing. ``graded``: the family grades rows (MM-Vet, LLaVA-Bench) rather than marking them right.
    ``scored_rows``: how many rows the score record counts; when ``rows`` are all of them and carry
    their question, they are the samples, and the prediction file is not read again."""
    notes: list[str] = []
    if rows and len(rows) == scored_rows and all(r.question is not None for r in rows):
        records = [_shown_columns(r) for r in rows]
    else:  # rows written before they carried their question, or a VLMEvalKit run: the prediction file
        try:
            table = pd.read_excel(pred_file)
        except Exception as exc:  # a corrupt or locked file: say so, keep the rest of the report
            return [], [f"could not read {pred_file.name}: {exc}"]
        table.columns = [c if c in OPTION_LETTERS else str(c).lower() for c in table.columns]
        records = table.to_dict("records")
    by_index = {str(r.index): r for r in rows}
    stem = pred_file.with_suffix("")
    prompts = {
        cell_text(r.get("index")): r
        for r in _read_jsonl(stem.with_name(stem.name + "_prompts.jsonl"))
        if "index" in r
    }
    samples = []
    for record in records:
        index = cell_text(record.get("index"))
        row = by_index.get(index)
        prompt = prompts.get(index, {})
        prediction = cell_text(record.get("prediction"))
        samples.append(
            SampleRecord(
                index=index,
                category=cell_text(record.get("category"))
                or cell_text(record.get("l2-category"))
                or cell_text(record.get("task")),
                question=cell_text(record.get("question")),
                options={
                    k: cell_text(record[k]) for k in OPTION_LETTERS if k in record and cell_text(record[k])
                },
                answer=cell_text(record.get("answer")),
                prediction=prediction,
                extracted=cell_text(row.extracted) if row is not None else "",
                hit=_hit(row, graded),
                verdict=_verdict(row, graded),
                failed=prediction.startswith(FAILURE_PREFIX),
                judge_failed=row is not None and row.decided_by == "failed",
                prompt=_collapse_image_tokens(cell_text(prompt.get("prompt"))),
                tiles=_tiles(prompt.get("tiles")),
                image=(images or {}).get(index, ""),
            )
        )
    if not prompts:
        notes.append("prompts not saved (run with --save-prompts to see them here)")
    return samples, notes


# --------------------------------------------------------------------------------------------------
# whole work directory
# --------------------------------------------------------------------------------------------------
def collect_runs(work_dir: Path, *, thumbnails: Any = None) -> list[BenchmarkRun]:
    """Every model x benchmark run under ``work_dir``.

    ``thumbnails`` is a callable (benchmark, run record or None) -> {index: data URI} (see
    ``images.py``); None means no images.
    """
    runs = []
    for model_dir in model_dirs(work_dir):
        run_notes: list[str] = []
        try:
            run = read_manifest(model_dir)
        except DataCorruptError as exc:  # the results are still worth showing: say what is missing
            run, run_notes = None, [str(exc)]
        for benchmark, pred_file in prediction_files(model_dir).items():
            try:
                family: BenchmarkFamily | None = family_of(benchmark)
            except VlevalError:
                family = None
            step(f"reading {model_dir.name} · {benchmark}")
            stem = pred_file.with_suffix("")
            judge_hint = run.options_for(benchmark).get("judge") if run is not None else None
            record, rows, notes = read_result(benchmark, family, stem, judge_hint)
            notes[:0] = run_notes
            settings = read_settings(run, record, family, benchmark)
            images = thumbnails(benchmark, run) if thumbnails else None
            samples, sample_notes = read_samples(
                pred_file, rows, graded=rows_are_graded(family, benchmark), images=images,
                scored_rows=record.counts.total if record is not None else None,
            )  # fmt: skip
            notes.extend(sample_notes)
            recorded = run.benchmark(benchmark) if run is not None else None
            if recorded is not None and recorded.error:
                notes.append(f"scoring failed: {recorded.error}")
            if run is not None and (origin := run.provenance(benchmark)):
                notes.append(origin)  # not both made and scored by `vleval run`
            if record is not None:
                notes.extend(record.notes)
            calibrations, calibration_notes = read_calibrations(pred_file)
            notes.extend(calibration_notes)
            runs.append(
                BenchmarkRun(
                    model=model_dir.name,
                    benchmark=benchmark,
                    work_dir=work_dir,
                    pred_file=pred_file,
                    settings=settings,
                    record=record,
                    samples=samples,
                    notes=notes,
                    judge_tally=read_judge_tally(recorded),
                    calibrations=calibrations,
                )
            )
    step(None)
    return runs
