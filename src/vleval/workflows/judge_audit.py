"""``vleval judge-audit``: would another judge have decided a finished run the same way?

For every scored benchmark of a work dir (a ``<model>/<model>_<benchmark>.xlsx`` prediction file with
vleval's ``_rows.jsonl`` and score record beside it), the predictions are scored again with judge J
into ``<work dir>/<model>/judge_audit/<J>/``. Scoring is deterministic given the judge's answers, so J
is asked exactly the requests the original judge was asked, as far as the answers agree (the first
call about every row the rules could not read; retries follow J's own answers). The original
decisions come from the run's own row files, never from a new call.

Per benchmark: the rows both judges decided (a row whose judge call failed, on either side, decided
nothing and is left out), the agreement of decisions (percent and Cohen's kappa), the confusion of
decisions (original x audit; free-form answers grouped, ``confusion_label``), the headline under J
next to the original, the rows whose decision changed, and the audit judge's failed calls (any
failure makes ``vleval judge-audit`` exit 1). Written to ``<work dir>/judge_audit_<J>.json``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vleval.errors import DataMissingError, VlevalError
from vleval.families.base import default_judge
from vleval.judge.settings import JudgeSettings
from vleval.types import JudgeInfo, RowResult, ScoreRecord

if TYPE_CHECKING:
    from vleval.protocol import Protocol

JUDGED = frozenset({"judge", "fallback", "failed"})  # outcomes that involved the judge
UNDECIDED = frozenset({"failed", "skipped"})  # a failed call or a row not examined decided nothing
AUDIT_DIR_NAME = "judge_audit"
CONFUSION_LABELS = 8  # at most this many labels a side; the rarer ones are grouped as "(other)"
OTHER = "(other)"


@dataclass
class RowChange:
    index: Any
    original: str
    audit: str
    original_score: float | None
    audit_score: float | None


@dataclass
class BenchmarkAudit:
    model: str
    dataset: str
    original_judge: str | None
    audit_judge: str
    headline_name: str
    original_headline: float | None
    audit_headline: float | None
    judged_rows: int = 0
    agreed: int = 0
    kappa: float | None = None
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # original -> audit -> rows
    changed: list[RowChange] = field(default_factory=list)
    audit_complete: bool = True
    judge_calls: dict[str, Any] | None = None  # the audit judge's tally for this benchmark
    failed_calls: int = 0  # audit judge requests that got no answer (rows left out of the agreement)
    failed_rows: int = 0  # rows left out because a judge call failed (in either scoring)
    last_error: str | None = None  # the audit judge's last error (redacted by the client)
    confusion_grouping: str = "decision"  # "decision", "right/wrong against the answer", or "top N"

    @property
    def agreement(self) -> float | None:
        """Percent of judged rows with the same decision."""
        return 100.0 * self.agreed / self.judged_rows if self.judged_rows else None


def decision(row: RowResult, family: str | None = None) -> str:
    """What the judge decided for a row, as text, as the row's family (a family name) shows it
    (``BenchmarkFamily.decision_text``): the extracted option/word/answer, or the grade."""
    from vleval.families.base import all_families, decision_text

    found = all_families().get(family) if family else None
    return found.decision_text(row) if found is not None else decision_text(row)


def free_form(family: str) -> bool:
    """The family's judge extracts a free-form answer: the confusion groups rows by right/wrong."""
    from vleval.families.base import all_families

    found = all_families().get(family)
    return found is not None and found.free_form_answers


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' categorical decisions; None when undefined (both raters gave one
    and the same category to every item, so chance agreement is 1)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def judged_pairs(original: list[RowResult], audit: list[RowResult]) -> list[tuple[RowResult, RowResult]]:
    """(original, audit) row pairs of the rows a judge was involved with in either scoring."""
    by_index = {str(r.index): r for r in audit}
    pairs = []
    for row in original:
        other = by_index.get(str(row.index))
        if other is not None and (row.decided_by in JUDGED or other.decided_by in JUDGED):
            pairs.append((row, other))
    return pairs


def both_decided(row: RowResult, other: RowResult) -> bool:
    """Both judges decided the row: neither call failed and both scorings examined it."""
    return row.decided_by not in UNDECIDED and other.decided_by not in UNDECIDED


def compare_rows(
    original: list[RowResult], audit: list[RowResult], family: str | None = None
) -> tuple[list[tuple[str, str]], list[RowChange]]:
    """(decision pairs of the rows a judge was involved with and both judges decided, every row
    whose decision changed). A row one side never examined (an MMBench rotation after its question
    failed) or whose judge call failed is listed as changed but is not a decision to agree on.
    ``family``: the rows' family name, which says how a decision reads (``decision``)."""
    pairs: list[tuple[str, str]] = []
    changed: list[RowChange] = []
    for row, other in judged_pairs(original, audit):
        a, b = decision(row, family), decision(other, family)
        if both_decided(row, other):
            pairs.append((a, b))
        if a != b:
            changed.append(RowChange(row.index, a, b, row.score, other.score))
    return pairs, changed


def confusion_label(row: RowResult, family: str) -> str:
    """A row's decision as the confusion table shows it: free-form answers (MathVista) as right or
    wrong against the benchmark's answer, since a matrix of raw numbers and strings says nothing."""
    if free_form(family) and row.decided_by not in UNDECIDED and row.score is not None:
        return "right" if row.score >= 1.0 else "wrong"
    return decision(row, family)


def confusion_of(
    pairs: list[tuple[str, str]], *, max_labels: int = CONFUSION_LABELS
) -> dict[str, dict[str, int]]:
    """Original decision -> audit decision -> rows. More than ``max_labels`` distinct labels on a side:
    the most frequent ``max_labels - 1`` are kept and the rest grouped as ``OTHER``."""

    def keep(labels: list[str]) -> set[str]:
        counts = Counter(labels)
        if len(counts) <= max_labels:
            return set(counts)
        return {
            label for label, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max_labels - 1]
        }

    kept_a, kept_b = keep([a for a, _ in pairs]), keep([b for _, b in pairs])
    table: dict[str, dict[str, int]] = {}
    for a, b in sorted((a if a in kept_a else OTHER, b if b in kept_b else OTHER) for a, b in pairs):
        table.setdefault(a, {})
        table[a][b] = table[a].get(b, 0) + 1
    return table


def confusion_pairs(
    original: list[RowResult], audit: list[RowResult], family: str
) -> tuple[list[tuple[str, str]], str]:
    """(label pairs of the rows both judges decided, how they are grouped) for the confusion table."""
    pairs = [
        (confusion_label(a, family), confusion_label(b, family))
        for a, b in judged_pairs(original, audit)
        if both_decided(a, b)
    ]
    if free_form(family):
        return pairs, "right/wrong against the answer"
    if len({x for pair in pairs for x in pair}) > CONFUSION_LABELS:
        return pairs, f"the {CONFUSION_LABELS - 1} most frequent decisions, the rest as {OTHER}"
    return pairs, "decision"


# -------------------------------------------------------------------------------------------------
# Finding the scored benchmarks of a work dir
# -------------------------------------------------------------------------------------------------
@dataclass
class ScoredBenchmark:
    model: str
    card: Any  # BenchmarkCard
    pred_file: Path
    rows_file: Path
    score_file: Path


def find_scored(work_dir: Path) -> list[ScoredBenchmark]:
    """Every benchmark scored by vleval under ``work_dir`` (``<model>/<model>_<benchmark>.xlsx`` with
    its rows and score record), models in name order, benchmarks in registry order."""
    from vleval.datasets.registry import BENCHMARKS
    from vleval.workdir import model_dirs, scored_files

    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise DataMissingError(f"--work-dir {work_dir}: no such folder.")
    order = {name: position for position, name in enumerate(BENCHMARKS)}
    found = []
    for model_dir in model_dirs(work_dir):
        scored = sorted(scored_files(model_dir), key=lambda f: order[f.card.name])
        found += [
            ScoredBenchmark(f.model, f.card, f.pred_file, f.rows_file, f.score_file)
            for f in scored
            if f.rows_file is not None and f.pred_file.parent == model_dir
        ]
    return found


def judged_benchmarks(
    work_dir: Path, datasets: list[str] | None = None
) -> list[tuple[ScoredBenchmark, ScoreRecord, Protocol]]:
    """The benchmarks of ``work_dir`` (only ``datasets`` when given) whose protocol names a judge, each
    with its score record and that protocol: what judge-audit and judge-calibrate ask a judge about."""
    from vleval.datasets.results import read_score
    from vleval.protocol import get_protocol

    scored = find_scored(work_dir)
    if datasets:
        wanted = {d.lower() for d in datasets}
        scored = [s for s in scored if s.card.name.lower() in wanted]
    out = []
    for item in scored:
        record = read_score(item.score_file)
        try:
            protocol = get_protocol(record.protocol)
        except ValueError as exc:
            raise VlevalError(f"{item.score_file}: {exc}") from None
        if default_judge(protocol, item.card) is not None:  # else a rule-based metric: no judge to ask
            out.append((item, record, protocol))
    return out


def audit_dir_name(judge_model: str) -> str:
    """A folder/file-safe name for a judge (``local:qwen@1a2b`` -> ``local_qwen_1a2b``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", judge_model).strip("_") or "judge"


def audit_work_dir(
    work_dir: Path,
    judge_spec: str,
    settings: JudgeSettings | None = None,
    *,
    data_dir: Path | None = None,
    datasets: list[str] | None = None,
) -> list[BenchmarkAudit]:
    """Re-score every judged benchmark of ``work_dir`` with ``judge_spec`` and compare (module doc).
    ``settings``: how to reach and pace that judge; its cache is the run's (``<work-dir>/.judge_cache``)
    and the attempts and timeout not given are each benchmark's protocol's."""
    from vleval.datasets.results import read_rows
    from vleval.datasets.scoring import evaluate
    from vleval.judge.cache import default_cache_dir
    from vleval.judge.client import NO_JUDGE_SPECS, resolve_judge
    from vleval.workflows.bill import tally

    if judge_spec.strip().lower() in NO_JUDGE_SPECS:
        raise VlevalError("judge-audit compares judges: --judge must name one (an API model or local:DIR).")
    audits: list[BenchmarkAudit] = []
    for item, record, protocol in judged_benchmarks(work_dir, datasets):
        if record.judge is None:
            continue  # scored without a judge: nothing to compare
        original_rows = read_rows(item.rows_file)
        choice = resolve_judge(
            judge_spec,
            default_judge(protocol, item.card),
            replace(settings or JudgeSettings(), cache_dir=default_cache_dir(Path(work_dir))).under(protocol),
        )
        judge = choice.judge
        if judge is None:
            raise VlevalError(f"judge-audit: no judge for --judge {judge_spec}: {choice.reason}")
        last_error = None
        out_dir = item.pred_file.parent / AUDIT_DIR_NAME / audit_dir_name(judge.model)
        try:
            result = evaluate(
                item.card, protocol, item.pred_file, judge, seed=record.seed or 0, out_dir=out_dir,
                data_dir=data_dir, verify_md5=False,
            )  # fmt: skip
            calls = tally(judge)
            last_error = getattr(getattr(judge, "stats", None), "last_error", None)
        finally:
            close = getattr(judge, "close", None)
            if callable(close):
                close()
        pairs, changed = compare_rows(original_rows, result.rows, item.card.family)
        shown, grouping = confusion_pairs(original_rows, result.rows, item.card.family)
        failed_rows = sum(
            1 for a, b in judged_pairs(original_rows, result.rows) if "failed" in (a.decided_by, b.decided_by)
        )
        audits.append(
            BenchmarkAudit(
                model=item.model,
                dataset=item.card.name,
                original_judge=_judge_name(record.judge),
                audit_judge=judge.model,
                headline_name=record.headline_name,
                original_headline=record.headline,
                audit_headline=result.record.headline,
                judged_rows=len(pairs),
                agreed=sum(1 for a, b in pairs if a == b),
                kappa=cohen_kappa(pairs),
                confusion=confusion_of(shown),
                changed=changed,
                audit_complete=result.record.complete,
                judge_calls=calls,
                failed_calls=max(int((calls or {}).get("failures", 0)), result.record.counts.failed),
                failed_rows=failed_rows,
                last_error=last_error,
                confusion_grouping=grouping,
            )
        )
    return audits


def _judge_name(info: JudgeInfo | None) -> str | None:
    return None if info is None else info.model


def write_audit(path: Path, audits: list[BenchmarkAudit]) -> Path:
    from vleval.atomic import atomic_write
    from vleval.datasets.results import plain

    body = [asdict(a) | {"agreement": a.agreement} for a in audits]
    return atomic_write(Path(path), json.dumps(plain(body), indent=2, ensure_ascii=False) + "\n")


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def format_audit(audits: list[BenchmarkAudit], *, max_changed: int = 20) -> str:
    if not audits:
        return "judge-audit: no benchmark of this work dir was decided with a judge; nothing to compare."
    lines = []
    for a in audits:
        lines.append(
            f"{a.model} / {a.dataset}: original judge {a.original_judge or 'none'} -> audit judge {a.audit_judge}"
        )
        if a.failed_calls or a.failed_rows:
            lines.append(
                f"  FAILED: {a.failed_calls} audit judge call(s) got no answer"
                f"{f' (last error: {a.last_error})' if a.last_error else ''}; {a.failed_rows} row(s) whose "
                "judge call failed are left out of the agreement. Run the same command again to retry them "
                "(answers that arrived are cached)."
            )
        if a.judged_rows:
            lines.append(
                f"  rows both judges decided {a.judged_rows}: agreement {_number(a.agreement, 1)}% ({a.agreed}/{a.judged_rows}), "
                f"Cohen's kappa {_number(a.kappa, 3) if a.kappa is not None else 'undefined (one decision only)'}"
            )
        else:
            lines.append("  no row was decided by both judges")
        labels = sorted({b for row in a.confusion.values() for b in row})
        if a.confusion:
            width = max(len(x) for x in [*labels, *a.confusion, "original"]) + 2
            grouped = "" if a.confusion_grouping == "decision" else f"; {a.confusion_grouping}"
            lines.append(f"  confusion (rows: original decision, columns: audit decision{grouped})")
            lines.append("  " + "original".ljust(width) + "".join(x.rjust(width) for x in labels))
            for original, row in a.confusion.items():
                lines.append(
                    "  " + original.ljust(width) + "".join(str(row.get(x, 0)).rjust(width) for x in labels)
                )
        incomplete = "" if a.audit_complete else " (incomplete: some audit judge calls failed)"
        lines.append(
            f"  {a.headline_name}: original {_number(a.original_headline)}, audit {_number(a.audit_headline)}{incomplete}"
        )
        if a.changed:
            lines.append(f"  rows whose decision changed ({len(a.changed)}):")
            for change in a.changed[:max_changed]:
                lines.append(
                    f"    {change.index}: {change.original!r} -> {change.audit!r} "
                    f"(score {_number(change.original_score, 2)} -> {_number(change.audit_score, 2)})"
                )
            if len(a.changed) > max_changed:
                lines.append(f"    ... {len(a.changed) - max_changed} more in the JSON file")
    return "\n".join(lines)
