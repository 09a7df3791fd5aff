"""``vleval judge-calibrate``: how far is a cheap judge's score from the one the protocol's judge would
give, without paying the protocol's judge on every row?

For every judged benchmark of a finished run (``workflows.judge_audit.judged_benchmarks``), the predictions are scored
with the cheap judge (``--local-judge``: open weights ``local:DIR`` or any API model) on every row,
into ``<model>/judge_calibrate/<cheap judge>/``. A seeded random sample of scoring units (whole MMBench
circular groups, HallusionBench question groups; stratified by category where the benchmark has them,
``vleval.stats.ppi.sample_units``) is scored with the protocol's own judge only, into
``.../protocol_judge_sample/``; the judge bill of the sample and of a full run is printed before the
protocol's judge gets any request. Prediction-powered inference (``vleval.stats.ppi``) then combines
the two into an estimate of the protocol judge's score with its interval.

Both judges answer through the run's judge cache (``<work-dir>/.judge_cache``), so a larger sample
later asks only the units not asked before, and re-running costs nothing.

The corrected score goes into the cheap judge's score record (``ScoreRecord.judge_calibration``) and
into ``<work-dir>/judge_calibrate_<cheap judge>.json``, always labelled as what it is ("local judge,
PPI-corrected against gpt-4-turbo on 60 of 218 rows"), never as the protocol's figure.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vleval.errors import VlevalError
from vleval.families.base import default_judge
from vleval.judge.cache import default_cache_dir
from vleval.judge.settings import JudgeSettings
from vleval.types import BenchmarkCard, Interval, JudgeCalibration, RowResult

CALIBRATE_DIR_NAME = "judge_calibrate"
SAMPLE_DIR_NAME = "protocol_judge_sample"
DEFAULT_SUBSET = "25%"
NO_CATEGORY = "(all)"


@dataclass
class BenchmarkCalibration:
    model: str
    dataset: str
    protocol: str
    bill: list[str] = field(default_factory=list)  # the judge bill lines shown before any request
    calibration: JudgeCalibration | None = None
    skipped: str | None = None  # why no corrected score was computed


def parse_subset(text: str, total: int) -> int:
    """``--subset``: a number of scoring units (``60``) or a share of them (``25%``)."""
    value = text.strip()
    try:
        n = math.ceil(total * float(value[:-1]) / 100.0) if value.endswith("%") else int(value)
    except ValueError:
        raise VlevalError(f"--subset {text}: give a number of scoring units (60) or a share (25%).") from None
    if n < 2:
        raise VlevalError(
            f"--subset {text}: at least 2 scoring units must be judged by the protocol's judge."
        )
    return n


def unit_strata(rows: list[RowResult]) -> dict[str, str]:
    """Scoring unit -> its category (the first row's; ``NO_CATEGORY`` where the benchmark has none)."""
    strata: dict[str, str] = {}
    for row in rows:
        strata.setdefault(str(row.unit), row.category if row.category else NO_CATEGORY)
    return strata


def unit_scores(rows: list[RowResult]) -> dict[str, float]:
    """Scoring unit -> its score (``vleval.stats.core.unit_values``: all rows right, or the mean grade)."""
    from vleval.stats.core import unit_values

    return {name.removeprefix("unit:"): value for name, value in unit_values(rows).items()}


def headline_is_unit_mean(card: BenchmarkCard, rows: list[RowResult]) -> bool:
    """PPI estimates a mean: the benchmark's headline must be 100 x the mean unit score on these rows,
    as its metric says (``Metric.is_unit_mean``: a share of right units or a mean grade of single-row
    units; HallusionBench's mean of three accuracies, OCRBench's point sum and LLaVA-Bench's ratio
    are not)."""
    from vleval.families.base import family_of

    return family_of(card).metric_of(card).is_unit_mean(rows)


def calibrate_work_dir(
    work_dir: Path,
    local_spec: str,
    settings: JudgeSettings | None = None,
    *,
    subset: str = DEFAULT_SUBSET,
    seed: int = 0,
    local_base_url: str | None = None,
    data_dir: Path | None = None,
    datasets: list[str] | None = None,
    dry_run: bool = False,
    say: Any = print,
) -> list[BenchmarkCalibration]:
    """Calibrate every judged benchmark of ``work_dir`` (module doc). ``settings``: how to reach and pace
    the protocol's judge; the cheap judge is paced alike at ``local_base_url``. Both answer through the
    run's judge cache, with each benchmark's protocol's attempts and timeout unless given. ``say``
    prints the bill."""
    from vleval.judge.client import NO_JUDGE_SPECS
    from vleval.workflows.judge_audit import judged_benchmarks

    if local_spec.strip().lower() in NO_JUDGE_SPECS:
        raise VlevalError("judge-calibrate: --local-judge must name a judge (local:DIR or an API model).")
    out: list[BenchmarkCalibration] = []
    for item, record, protocol in judged_benchmarks(work_dir, datasets):
        result = BenchmarkCalibration(item.model, item.card.name, protocol.name)
        out.append(result)
        paced = replace(settings or JudgeSettings(), cache_dir=default_cache_dir(Path(work_dir))).under(protocol)
        _calibrate_one(
            result, item, protocol, local_spec, paced, subset=subset, seed=seed, local_base_url=local_base_url,
            data_dir=data_dir, dry_run=dry_run, say=say, record_seed=record.seed or 0,
        )  # fmt: skip
    return out


def _judge(spec: str | None, short: str, settings: JudgeSettings):
    from vleval.judge.client import resolve_judge

    choice = resolve_judge(spec, short, settings)
    if choice.judge is None:
        raise VlevalError(f"judge-calibrate: no judge for {spec or short}: {choice.reason}")
    return choice.judge


def _close(judge: Any) -> None:
    close = getattr(judge, "close", None)
    if callable(close):
        close()


def _calibrate_one(
    result: BenchmarkCalibration,
    item: Any,
    protocol: Any,
    local_spec: str,
    settings: JudgeSettings,
    *,
    subset: str,
    seed: int,
    local_base_url: str | None,
    data_dir: Path | None,
    dry_run: bool,
    say: Any,
    record_seed: int,
) -> None:
    from vleval.datasets.results import score_record_path, write_score
    from vleval.datasets.scoring import evaluate
    from vleval.stats.ppi import ppi_mean, sample_units, stratum_weights
    from vleval.workflows.judge_audit import audit_dir_name

    card = item.card
    short = default_judge(protocol, card)
    local = _judge(local_spec, short, settings.with_base_url(local_base_url))
    local_dir = item.pred_file.parent / CALIBRATE_DIR_NAME / audit_dir_name(local.model)
    try:
        local_result = evaluate(
            card, protocol, item.pred_file, local, seed=record_seed, out_dir=local_dir, data_dir=data_dir,
            verify_md5=False,
        )  # fmt: skip
    finally:
        _close(local)
    if local_result.record.counts.failed:
        raise VlevalError(
            f"{item.model} / {card.name}: the cheap judge {local.model} failed on "
            f"{local_result.record.counts.failed} row(s); run again to retry them (answers are cached)."
        )
    rows = local_result.rows
    if not headline_is_unit_mean(card, rows):
        result.skipped = (
            f"its headline ({local_result.record.headline_name}) is not a mean of unit scores; PPI of a mean "
            "does not apply"
        )
        return
    strata = unit_strata(rows)
    total = len(strata)
    n = parse_subset(subset, total)
    if n >= total:
        result.skipped = f"the sample ({n}) covers every one of the {total} units: run the protocol's judge"
        return
    sampled = sample_units(strata, n, seed)
    chosen = set(sampled)
    indices = [r.index for r in rows if str(r.unit) in chosen]
    result.bill = _bill_lines(card, protocol, item.pred_file, indices, n, total)
    for line in result.bill:
        say(line)
    if dry_run:
        result.skipped = "--dry-run: the bill only"
        return
    judge = _judge(None, short, settings)
    sample_dir = local_dir / SAMPLE_DIR_NAME / audit_dir_name(judge.model)
    try:
        sample = evaluate(
            card, protocol, item.pred_file, judge, seed=record_seed, out_dir=sample_dir, data_dir=data_dir,
            verify_md5=False, only=indices,
        )  # fmt: skip
    finally:
        _close(judge)
    if sample.record.counts.failed:
        raise VlevalError(
            f"{item.model} / {card.name}: the protocol's judge {judge.model} failed on "
            f"{sample.record.counts.failed} sampled row(s); no corrected score. Run again to retry them "
            "(answers that arrived are cached)."
        )
    truth = unit_scores(sample.rows)
    cheap = unit_scores(rows)
    labelled = [u for u in sampled if u in truth and u in cheap]
    others = [u for u in cheap if u not in chosen]
    weights = stratum_weights(strata, labelled)
    w_l = w_u = None
    if weights is not None:
        w_l = np.array([weights[0][u] for u in labelled])
        w_u = np.array([weights[1][u] for u in others])
    ppi = ppi_mean(
        np.array([truth[u] for u in labelled]), np.array([cheap[u] for u in labelled]),
        np.array([cheap[u] for u in others]), w_labelled=w_l, w_unlabelled=w_u,
    )  # fmt: skip
    z = (ppi.high[0] - ppi.low[0]) / (2.0 * ppi.se[0]) if ppi.se[0] > 0 else 1.959963984540054
    sample_mean = float(np.average([truth[u] for u in labelled], weights=w_l))
    effective = float(ppi.effective_units()[0])
    n_strata = len(set(strata.values()))
    method = (
        f"prediction-powered inference (PPI++, ppi_py.ppi_mean_ci, power-tuned lambda): {local.model} on "
        f"all {total} units, {judge.model} on a seeded random sample of {len(labelled)} (seed {seed}"
        f"{f', stratified by category over {n_strata} categories' if n_strata > 1 else ''}), normal interval"
    )
    calibration = JudgeCalibration(
        local_judge=local.model,
        protocol_judge=judge.model,
        sampled_units=len(labelled),
        total_units=total,
        sampled_rows=len(indices),
        total_rows=len(rows),
        local_score=100.0 * float(np.mean(list(cheap.values()))),
        corrected=100.0 * float(ppi.estimate[0]),
        interval=Interval(100.0 * float(ppi.low[0]), 100.0 * float(ppi.high[0]), method),
        sample_score=100.0 * sample_mean,
        sample_interval=Interval(
            100.0 * (sample_mean - z * float(ppi.classical_se[0])),
            100.0 * (sample_mean + z * float(ppi.classical_se[0])),
            f"normal interval of {judge.model} on the {len(labelled)} sampled units alone",
        ),
        full_run_half_width=100.0 * z * float(ppi.labelled_sd[0]) / math.sqrt(total),
        effective_units=None if math.isnan(effective) else effective,
        seed=seed,
        strata=n_strata,
        method=method,
    )
    result.calibration = calibration
    record = local_result.record
    record.judge_calibration = calibration
    path = score_record_path(local_dir / item.pred_file.stem)
    if path is not None:
        write_score(path, record)


def _bill_lines(card, protocol, pred_file: Path, indices: list, n: int, total: int) -> list[str]:
    """The protocol judge's bill for the sample next to a full run's (``workflows.bill.estimate_bill``)."""
    from vleval.datasets.predictions import read_prediction_file
    from vleval.workflows.bill import estimate_bill

    frame = read_prediction_file(pred_file)
    wanted = {str(i) for i in indices}
    part = frame[[str(i) in wanted for i in frame["index"]]]
    lines = [f"judge bill for {card.name} (before any request to the protocol's judge):"]
    for label, table in ((f"sample, {n} of {total} units", part), (f"full run, {total} units", frame)):
        bill = estimate_bill(card, protocol, table, None)
        count = (
            f"{bill.calls} calls"
            if bill.exact
            else f"<= {bill.calls} calls (<= {bill.max_calls} with retries)"
        )
        lines.append(
            f"  {label:<26} {len(table)} rows: {count}, ~{bill.prompt_tokens:,} input / "
            f"~{bill.completion_tokens:,} output tokens, judge {bill.judge}"
        )
    lines.append("  (answers already in the work dir's judge cache are not asked again)")
    return lines


def read_calibrations(pred_file: Path) -> tuple[list[JudgeCalibration], list[str]]:
    """The corrected scores ``_calibrate_one`` left for one prediction file: the cheap judges' score
    records in ``<pred folder>/judge_calibrate/<judge>/`` (read by ``datasets.results.read_score``), in
    judge order. A record without one (a --dry-run, a skipped benchmark) adds nothing; an unreadable
    one adds a note naming the file. For ``vleval report``, which shows them beside the cell's number."""
    from vleval.datasets.results import read_score, score_record_path
    from vleval.errors import DataCorruptError

    folder = Path(pred_file).parent / CALIBRATE_DIR_NAME
    found: list[JudgeCalibration] = []
    notes: list[str] = []
    if not folder.is_dir():
        return found, notes
    for judge_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
        try:
            path = score_record_path(judge_dir / Path(pred_file).stem)
            if path is None:
                continue
            calibration = read_score(path).judge_calibration
        except DataCorruptError as exc:
            notes.append(f"judge calibration not shown: {exc}")
            continue
        if calibration is not None:
            found.append(calibration)
    return found, notes


def calibration_file(work_dir: Path, local_model: str) -> Path:
    from vleval.workflows.judge_audit import audit_dir_name

    return Path(work_dir) / f"judge_calibrate_{audit_dir_name(local_model)}.json"


def write_calibrations(path: Path, results: list[BenchmarkCalibration]) -> Path:
    from vleval.atomic import atomic_write
    from vleval.datasets.results import plain

    body = [asdict(r) | {"label": r.calibration.label if r.calibration else None} for r in results]
    return atomic_write(Path(path), json.dumps(plain(body), indent=2, ensure_ascii=False) + "\n")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_calibrations(results: list[BenchmarkCalibration]) -> str:
    if not results:
        return "judge-calibrate: no benchmark of this work dir has a judge role; nothing to calibrate."
    lines = []
    for r in results:
        lines.append(f"{r.model} / {r.dataset} (protocol {r.protocol})")
        c = r.calibration
        if c is None:
            lines.append(f"  no corrected score: {r.skipped}")
            continue
        unit = "units" if c.total_units != c.total_rows else "rows"
        lines += [
            f"  local judge {c.local_judge} on all {c.total_units} {unit}: {_f(c.local_score)}",
            f"  {c.label}: {_f(c.corrected)} [{_f(c.interval.low)}, {_f(c.interval.high)}]",
            f"  {c.protocol_judge} on the {c.sampled_units} sampled {unit} alone: {_f(c.sample_score)} "
            f"[{_f(c.sample_interval.low)}, {_f(c.sample_interval.high)}]",
            f"  a full {c.protocol_judge} run on all {c.total_units} {unit} would give about "
            f"± {_f(c.full_run_half_width)} (projected from the sample's spread)",
        ]
        if c.effective_units is not None:
            lines.append(
                f"  effective sample size: the {c.sampled_units} protocol-judged {unit} count as "
                f"{c.effective_units:.0f} ({c.effective_units / c.sampled_units:.1f}x) with the local judge's help"
            )
        lines.append("  an estimate of the protocol judge's score, not the protocol's figure")
    return "\n".join(lines)


def local_model_name(results: list[BenchmarkCalibration], spec: str) -> str:
    """The cheap judge's model id for the output file name (the spec when nothing was scored)."""
    for r in results:
        if r.calibration is not None:
            return r.calibration.local_judge
    return re.sub(r"^local:", "", spec)
