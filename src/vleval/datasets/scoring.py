"""Scoring a prediction file: the one path every benchmark family goes through.

``evaluate`` reads the prediction file (joined with the benchmark table), checks it covers the
benchmark, and hands the rows to ``score_frame``: require a judge where the family needs one ->
require the columns -> the family's ``score`` (extraction, judge calls, the reference's tables, one
``RowResult`` per row) -> the ``ScoreRecord`` -> one writer (``results.write_result_files``) for the
reference's files and vleval's ``<stem>_score.json`` (or ``_vleval.json``) and ``<stem>_rows.jsonl``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd

from vleval.console import step
from vleval.datasets.cells import isna
from vleval.datasets.matching import is_failure_text
from vleval.datasets.results import XLSX_CELL_LIMIT, write_result_files
from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.families.base import HEADLINE, default_judge, family_of
from vleval.judge.info import judge_info, protocol_judge_model
from vleval.protocol import Protocol
from vleval.settings import scored_settings
from vleval.stats.consistency import rotation_consistency
from vleval.stats.scores import fill_record, score_uncertainty
from vleval.types import (
    BenchmarkCard,
    DecisionCounts,
    EvalSettings,
    Judge,
    JudgeRequest,
    RowResult,
    ScoreRecord,
    Subset,
)

JUDGE_REQUIRED_HINT = (
    "Pass a judge: --judge MODEL --judge-base-url URL (any OpenAI-compatible server), or set "
    "OPENAI_API_KEY (and OPENAI_API_BASE) for the protocol's default judge."
)

_PROMPTS = Path(__file__).resolve().parent.parent / "data" / "judge_prompts"


@dataclass
class EvalResult:
    """What scoring one prediction file produced: the record (headline on the 0-100 scale), the rows,
    the reference's tables and every file written."""

    record: ScoreRecord
    rows: list[RowResult] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # reference tables by file tag
    files: list[Path] = field(default_factory=list)

    @property
    def failed_rows(self) -> list[RowResult]:
        return [r for r in self.rows if r.decided_by == "failed"]

    def rows_frame(self) -> pd.DataFrame:
        """The rows as a table (one column per RowResult field), for inspection."""
        return pd.DataFrame([dataclasses.asdict(row) for row in self.rows])


def judge_failure_message(record: ScoreRecord, last_error: str | None) -> str:
    """The one line that says a benchmark is incomplete because judge calls failed."""
    return (
        f"{record.dataset}: the judge call failed for {record.counts.failed} of {record.counts.total} "
        f"row(s) (last error: {last_error or 'no answer'}); the result is incomplete, not a score. "
        f"Run the same command again to retry only those rows (answers that arrived are cached)."
    )


def last_judge_error(judge: Judge | None) -> str | None:
    """The judge client's last error text (redacted by the client), when it keeps one."""
    return getattr(getattr(judge, "stats", None), "last_error", None)


def judge_prompt(name: str) -> str:
    """A reference judge prompt, byte-exact (see ``data/judge_prompts/SOURCES.md``)."""
    return (_PROMPTS / name).read_text(encoding="utf-8")


def require_judge(judge: Judge | None, card: BenchmarkCard) -> Judge:
    if judge is None:
        raise VlevalError(
            f"{card.name} is scored by an LLM judge (the reference refuses to score it without a working "
            f"one), and none is available. {JUDGE_REQUIRED_HINT}"
        )
    return judge


def require_columns(data: pd.DataFrame, columns: tuple[str, ...], card: BenchmarkCard) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataCorruptError(
            f"{card.name}: the predictions lack column(s) {', '.join(missing)} needed for scoring. Keep the "
            f"benchmark TSV under the data directory (--data-dir / $LMUData) so they are joined from it."
        )


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def ask_in_rounds(
    judge: Judge,
    prompts: Mapping[K, str],
    *,
    rounds: int,
    accept: Callable[[K, str], V | None],
    temperature: Callable[[int], float] = lambda i: 0.0,
    max_tokens: int = 2048,
    system: str | None = None,
) -> dict[K, tuple[V | None, list[str]]]:
    """Ask the judge about every prompt; repeat for those whose answer ``accept`` rejects, up to
    ``rounds`` times (round ``i`` at ``temperature(i)``), each round as one batch. ``accept(key,
    answer)`` returns the value read from an answer, or None to ask again. Returns, per key, the first
    accepted value (None if none) and every raw answer received."""
    outputs: dict[K, list[str]] = {k: [] for k in prompts}
    accepted: dict[K, V | None] = {k: None for k in prompts}
    pending = list(prompts)
    for i in range(rounds):
        if not pending:
            break
        requests = [
            JudgeRequest(prompt=prompts[k], system=system, temperature=temperature(i), max_tokens=max_tokens)
            for k in pending
        ]
        answers = judge.ask_many(requests)
        still = []
        for key, answer in zip(pending, answers, strict=True):
            outputs[key].append(answer)
            value = accept(key, answer)
            if value is None:
                still.append(key)
            else:
                accepted[key] = value
        pending = still
    return {k: (accepted[k], outputs[k]) for k in prompts}


def call_failed(answers: list[str]) -> bool:
    """A row whose judge answers include the failure text and none was accepted: the judge was not
    reached (network, auth, garbage), so its fallback is not the protocol's verdict."""
    return any(is_failure_text(a) for a in answers)


# --------------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------------
def evaluate(
    card: BenchmarkCard,
    protocol: Protocol,
    pred_file: Path,
    judge: Judge | None,
    *,
    table: pd.DataFrame | None = None,
    seed: int = 0,
    out_dir: Path | None = None,
    data_dir: Path | None = None,
    allow_partial: bool = False,
    verify_md5: bool = True,
    hit_token_limit: Collection[int | str] = (),
    only: Collection[int | str] | None = None,
    subset: Subset | None = None,
    settings: EvalSettings | None = None,
) -> EvalResult:
    """Score ``pred_file`` as the reference does under ``protocol`` and write the result files into
    ``out_dir`` (default: beside the predictions). ``table``: the loaded benchmark; None loads it from
    ``data_dir`` ($LMUData) when present, else scores the prediction file's own columns.

    Every benchmark row needs a prediction: missing rows raise, unless ``allow_partial`` (then the
    record is marked partial and not complete). ``hit_token_limit``: indices whose generation stopped
    at the token limit (the runner's progress records it; the file beside the predictions,
    ``predictions.token_limit_file``, is read too). ``subset``: ``table`` holds the first questions only
    (``--limit``): predictions of other rows are left out and the record is marked a subset.
    ``settings``: how the predictions were made, as the caller knows it; scoring completes it
    (``vleval.settings.scored_settings``) into the record."""
    from vleval.datasets.predictions import (
        prediction_texts,
        read_censored_marks,
        read_prediction_file,
        read_token_limit_hits,
    )

    pred_file = Path(pred_file)
    if family_of(card).judge_required:  # before any file is read
        require_judge(judge, card)
    notes: list[str] = []
    if table is None:
        step(f"reading the {card.name} benchmark file")
        table = _try_load_table(card, protocol, data_dir, notes, verify_md5)
    step(f"reading {pred_file.name}")
    data = read_prediction_file(pred_file, table, other_rows="drop" if subset is not None else "refuse")
    if data.empty:
        raise DataCorruptError(f"{pred_file}: has a header but no prediction rows; nothing to score.")
    if only is not None:
        data, table = _only_rows(data, table, only)
    missing = _missing_rows(table, data)
    if missing and not allow_partial:
        raise DataMissingError(
            f"{pred_file}: {len(missing)} of {len(table)} {card.name} row(s) have no prediction (index "
            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}). Finish the run, or pass "
            f"--allow-partial to score the rows present (the result is then marked partial)."
        )
    # the text scoring sees: an empty prediction is 'nan' under Quirk.EMPTY_PREDICTION_IS_NAN
    data["prediction"] = prediction_texts(data, protocol)
    out_dir = Path(out_dir) if out_dir is not None else pred_file.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    result = score_frame(data, card, protocol, judge, stem=out_dir / pred_file.stem, seed=seed, notes=notes,
                         missing=len(missing), predictions_cut=_cut_in_prediction_xlsx(pred_file, data),
                         hit_token_limit={*read_token_limit_hits(pred_file), *map(str, hit_token_limit)},
                         subset=subset, settings=settings,
                         censored=read_censored_marks(pred_file))  # fmt: skip
    return result


def score_frame(
    data: pd.DataFrame,
    card: BenchmarkCard,
    protocol: Protocol,
    judge: Judge | None,
    *,
    stem: Path,
    seed: int = 0,
    notes: list[str] | None = None,
    missing: int = 0,
    predictions_cut: list[str] | None = None,
    hit_token_limit: Collection[int | str] = (),
    subset: Subset | None = None,
    settings: EvalSettings | None = None,
    censored: Mapping[str, str] | None = None,
) -> EvalResult:
    """Score a prediction table (prediction file joined with the benchmark) and write every result
    file to ``<stem>...``. ``censored``: index -> why a thinking reply has no answer (scored as the
    reference scores it, counted censored)."""
    from vleval.models.internvl.thinking import censored_note, mark_row_censored

    family = family_of(card)
    if family.judge_required:
        judge = require_judge(judge, card)
    require_columns(data, family.required_columns, card)
    _require_answers(data, card)
    step(f"scoring {card.name} ({len(data):,} rows)")
    scored = family.score(data, card, protocol, judge, seed=seed)
    limit_hits = {str(i) for i in hit_token_limit}
    written = _written_predictions(data)
    for row in scored.rows:
        row.hit_token_limit = str(row.index) in limit_hits
        if str(row.index) in written:  # what the model said ('' stays ''), not the text scoring saw ('nan')
            row.prediction = written[str(row.index)]
        if str(row.index) in (censored or {}):
            mark_row_censored(row, censored[str(row.index)])  # type: ignore[index]
    counts = _counts(scored.rows, missing)
    record = ScoreRecord(
        dataset=card.name,
        protocol=protocol.name,
        headline_name=scored.headline_name,
        headline=scored.headline,
        headline_unit=scored.headline_unit or family.headline_unit,
        metrics=scored.metrics,
        tables={name: table.to_dict(orient="records") for name, table in scored.tables.items()},
        counts=counts,
        judge=judge_info(judge, default_judge(protocol, card)),
        complete=counts.failed == 0 and missing == 0,
        partial=missing > 0,
        notes=[*(notes or []), *scored.notes],
        seed=seed,
        native=scored.native,
        categories=scored.categories,
        category_unit=family.metric_of(card).category_unit,
        truncated_in_xlsx=list(predictions_cut or []),
        subset=subset,
    )
    if subset is not None:
        record.notes.append(
            f"--limit {subset.limit}: scored the first {subset.questions} of {subset.of_questions} questions "
            f"({subset.rows} of {subset.of_rows} rows); not comparable to published figures."
        )
    record.settings = scored_settings(settings, record, protocol_judge_model(default_judge(protocol, card)))
    if predictions_cut:
        record.notes.append(
            f"{len(predictions_cut)} prediction(s) fill the xlsx cell limit ({XLSX_CELL_LIMIT} characters): "
            f"probably cut when the prediction file was written (the run's progress file keeps the full "
            f"text); scored as cut, as the reference does."
        )
    if censored:
        record.notes.append(censored_note(censored))
    if missing:
        record.notes.append(f"partial: {missing} benchmark row(s) have no prediction and were left out.")
    if counts.failed:
        record.notes.append(
            f"{counts.failed} row(s) could not be judged (the judge call failed): incomplete, not a score; "
            f"re-running retries only those rows."
        )
    # intervals and censoring bounds (vleval.stats): seeded with the scoring seed, recorded in the methods
    step(f"{card.name}: bootstrap intervals over {len(scored.rows):,} rows")
    uncertainty = score_uncertainty(
        scored.rows,
        family.aggregate,
        HEADLINE,
        record.metrics,
        seed=seed,
        metric=family.metric_of(card),
        sums=family.row_sums(scored.rows),
        categories=record.categories,
        category_sums=family.category_sums(scored.rows, protocol),
    )
    fill_record(record, uncertainty)
    if card.circular:  # a figure beside the headline; reads only the rows scored above
        record.rotation_consistency = rotation_consistency(scored.rows)
    step(f"writing the {card.name} result files")
    files = write_result_files(stem, scored.outputs, record, scored.rows)
    step(None)
    return EvalResult(record=record, rows=scored.rows, tables=scored.tables, files=files)


def _written_predictions(data: pd.DataFrame) -> dict[str, str]:
    """index -> the prediction cell as written in the file, where the prediction reader kept it."""
    from vleval.datasets.predictions import RAW_PREDICTIONS_ATTR

    raw = data.attrs.get(RAW_PREDICTIONS_ATTR)
    if raw is None or len(raw) != len(data):
        return {}
    return {str(index): text for index, text in zip(data["index"], raw, strict=True)}


def _require_answers(data: pd.DataFrame, card: BenchmarkCard) -> None:
    if not card.has_answers or "answer" not in data.columns:
        return
    blank = [str(i) for i, a in zip(data["index"], data["answer"], strict=True) if isna(a) or a == ""]
    if blank:
        raise DataCorruptError(
            f"{card.name}: the 'answer' cell is empty in the row(s) with index {', '.join(blank[:5])}"
            f"{', ...' if len(blank) > 5 else ''}; every row of {card.name} needs one. Re-download the "
            f"benchmark file (or fix the prediction file's 'answer' column)."
        )


def _counts(rows: list[RowResult], missing: int) -> DecisionCounts:
    counts = DecisionCounts(total=len(rows), missing_predictions=missing)
    for row in rows:
        setattr(counts, row.decided_by, getattr(counts, row.decided_by) + 1)
        counts.hit_token_limit += int(row.hit_token_limit)
    return counts


def _only_rows(
    data: pd.DataFrame, table: pd.DataFrame | None, only: Collection[int | str]
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The prediction rows (and benchmark rows) whose index is in ``only``; the raw prediction texts
    kept by ``read_prediction_file`` follow their rows."""
    from vleval.datasets.predictions import RAW_PREDICTIONS_ATTR

    wanted = {str(i) for i in only}
    keep = [str(i) in wanted for i in data["index"]]
    raw = data.attrs.get(RAW_PREDICTIONS_ATTR)
    subset = data[keep].reset_index(drop=True)
    subset.attrs = {}
    if raw is not None:
        subset.attrs[RAW_PREDICTIONS_ATTR] = [r for r, k in zip(raw, keep, strict=True) if k]
    if table is not None:
        table = table[[str(i) in wanted for i in table["index"]]].reset_index(drop=True)
    return subset, table


def _missing_rows(table: pd.DataFrame | None, data: pd.DataFrame) -> list[str]:
    if table is None:
        return []
    present = {str(i) for i in data["index"]}
    return [str(i) for i in table["index"] if str(i) not in present]


def _cut_in_prediction_xlsx(pred_file: Path, data: pd.DataFrame) -> list[str]:
    if pred_file.suffix.lower() != ".xlsx":
        return []
    return [
        str(index)
        for index, text in zip(data["index"], data["prediction"], strict=True)
        if isinstance(text, str) and len(text) == XLSX_CELL_LIMIT
    ]


def _try_load_table(
    card: BenchmarkCard, protocol: Protocol, data_dir: Path | None, notes: list[str], verify_md5: bool = True
) -> pd.DataFrame | None:
    from vleval.datasets.loading import load_table

    try:
        return load_table(card, protocol, root=data_dir, verify_md5=verify_md5)
    except DataMissingError:
        notes.append(
            f"{card.file_name} not found in the data directory: scored the prediction file's own columns "
            f"(rows missing from the prediction file cannot be counted)."
        )
        return None
