"""The judge bill: how many judge calls scoring a benchmark will make, about how many tokens, and which
judge model would get them, known before the run (``vleval run --dry-run``); and, after a run, the
calls actually made (``tally``: read from the judge's own counters, for ``run.json``).

Counts follow the reference's scoring logic, as each judged family declares it in its judge profile
(``BenchmarkFamily.judge_profile``, a ``vleval.types.JudgeProfile``; per card, ``judge_profile_of``, so
BLINK is sized with its own matching prompt):

- a family that asks the judge about every row (MM-Vet, LLaVA-Bench) gets an exact count, one call per
  row (retries, up to its rounds, only for answers that are not a grade; the stand-in and real
  judges answer grades, so the first count is the bill);
- a family that asks only about the rows its rules cannot read (MCQ, Y/N, MathVista: it depends on
  the model's answers) gets an upper bound, every row once (first calls) and every row times its
  rounds (with retries). For MMBench every circular rotation is a row;
- a family without a judge role (OCRBench, CRPE) never calls a judge. A family with a judge role
  but no profile is not billed (named as unknown), never billed as "no judge".

Tokens are estimated at about 4 characters per token (English prompts): the prompt template with
the row's question, options and answer, plus an assumed prediction of ``PREDICTION_CHARS`` characters;
output tokens are the typical answer length of the family's profile (a letter, a word, a grade, or
LLaVA-Bench's two scores with an explanation). It is an estimate to size the bill, not an invoice.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from vleval.families.base import default_judge
from vleval.protocol import JUDGE_MODEL_IDS, Protocol
from vleval.types import BenchmarkCard, JudgeProfile

CHARS_PER_TOKEN = 4
PREDICTION_CHARS = 200
_ROW_TEXT_COLUMNS = ("question", "hint", "A", "B", "C", "D", "E", "answer", "caption", "gpt4_ans", "choices")


@dataclass
class JudgeBill:
    """One benchmark's judge bill. ``calls``: exact when ``exact``, else the first-call upper bound
    (``max_calls`` with retries)."""

    dataset: str
    judge: str | None  # model id (or local judge) that would be called; None: no judge
    calls: int = 0
    max_calls: int = 0
    exact: bool = True
    prompt_tokens: int = 0  # estimate, for ``calls`` calls
    completion_tokens: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_model_for(spec: str | None, card: BenchmarkCard, protocol: Protocol) -> str | None:
    """The model the judge of ``--judge spec`` would call for ``card`` (without building it)."""
    from vleval.judge.client import NO_JUDGE_SPECS
    from vleval.judge.local import is_local_judge_spec, local_judge_folder

    short_name = spec if spec is not None else default_judge(protocol, card)
    if short_name is None or short_name.strip().lower() in NO_JUDGE_SPECS:
        return None
    if is_local_judge_spec(short_name):
        return f"local:{local_judge_folder(short_name).name}"
    return os.environ.get("LOCAL_LLM") or JUDGE_MODEL_IDS.get(short_name, short_name)


def _judged(card: BenchmarkCard) -> bool:
    """Whether ``card``'s family can call a judge at all: it has a judge role or a judge profile."""
    from vleval.families.base import family_of

    family = family_of(card)
    return family.judge_role is not None or family.judge_profile_of(card) is not None


def judge_profile(card: BenchmarkCard) -> JudgeProfile:
    """The judge profile of ``card`` (its family's ``judge_profile_of``: the prompt that card sends). A
    family with a judge role but no profile is refused (``VlevalError``), so its bill is "unknown",
    never a silent "no judge"."""
    from vleval.errors import VlevalError
    from vleval.families.base import family_of

    family = family_of(card)
    profile = family.judge_profile_of(card)
    if profile is None:
        raise VlevalError(
            f"{card.name}: family {family.name!r} has a judge role but declares no judge_profile, so its "
            "judge bill is unknown; declare one (vleval.types.JudgeProfile) in the family module."
        )
    return profile


def _row_chars(table: pd.DataFrame) -> float:
    """Mean characters of a row's text that goes into a judge prompt."""
    if table.empty:
        return 0.0
    total = 0
    for column in _ROW_TEXT_COLUMNS:
        if column in table.columns:
            total += sum(len(str(v)) for v in table[column] if isinstance(v, str))
    return total / len(table)


def estimate_bill(
    card: BenchmarkCard, protocol: Protocol, table: pd.DataFrame, judge_spec: str | None
) -> JudgeBill:
    """The judge bill of scoring ``card`` (its benchmark ``table``) under ``protocol`` with ``--judge
    judge_spec`` (None: the protocol's judge)."""
    from vleval.datasets.scoring import judge_prompt

    judge = judge_model_for(judge_spec, card, protocol)
    if not _judged(card):
        return JudgeBill(card.name, None, note="rule-based metric: no judge")
    if judge is None:
        return JudgeBill(card.name, None, note="no judge (--judge none): rules only")
    profile = judge_profile(card)
    answer_tokens, every_row, rounds = profile.answer_tokens, profile.every_row, profile.rounds
    rows = len(table)
    template_chars = sum(len(judge_prompt(name)) for name in profile.templates)
    per_call_chars = template_chars + _row_chars(table) + PREDICTION_CHARS
    bill = JudgeBill(
        dataset=card.name,
        judge=judge,
        calls=rows,
        max_calls=rows * rounds,
        exact=every_row,
        prompt_tokens=round(rows * per_call_chars / CHARS_PER_TOKEN),
        completion_tokens=rows * answer_tokens,
    )
    if every_row:
        bill.note = "one call per row" + (
            f" (+ retries, up to {rounds} calls a row, for answers that are not a grade)"
            if rounds > 1
            else ""
        )
    else:
        bill.note = (
            f"at most one call per row the rules cannot read, retried up to {rounds} calls while the "
            "answer does not parse; depends on the model's answers"
        )
    return bill


def format_bill(bills: list[JudgeBill], n_models: int = 1) -> list[str]:
    """Lines for ``--dry-run``: per benchmark and model, then the total over ``n_models`` models."""
    per = " per model" if n_models > 1 else ""
    lines = [
        f"judge bill{per} (before the run; tokens are estimates at ~{CHARS_PER_TOKEN} characters a token):"
    ]
    for bill in bills:
        if bill.judge is None:
            lines.append(f"  {bill.dataset:<22} no judge calls ({bill.note})")
            continue
        count = (
            f"{bill.calls} calls"
            if bill.exact
            else f"<= {bill.calls} calls (<= {bill.max_calls} with retries)"
        )
        lines.append(
            f"  {bill.dataset:<22} {count}, ~{bill.prompt_tokens:,} input / ~{bill.completion_tokens:,} output "
            f"tokens, judge {bill.judge}; {bill.note}"
        )
    total_calls = n_models * sum(b.calls for b in bills)
    total_in = n_models * sum(b.prompt_tokens for b in bills)
    total_out = n_models * sum(b.completion_tokens for b in bills)
    bound = "" if all(b.exact for b in bills) else "<= "
    models = f" for {n_models} models" if n_models > 1 else ""
    lines.append(
        f"  total{models}: {bound}{total_calls} calls, ~{total_in:,} input / ~{total_out:,} output tokens "
        "(answers already in the work dir's judge cache are not asked again)"
    )
    return lines


def tally(judge: Any | None) -> dict[str, Any] | None:
    """What a judge did (its ``stats``: calls made, cache hits, failures, tokens), for ``run.json``."""
    if judge is None:
        return None
    stats = getattr(judge, "stats", None)
    if stats is None:
        return None
    values = stats.as_dict() if hasattr(stats, "as_dict") else dict(vars(stats))
    values.pop("last_error", None)
    return {"model": judge.model, "kind": getattr(judge, "kind", "api"), **values}


def dry_run_bill(
    cards: list[BenchmarkCard],
    protocol: Protocol,
    judge_spec: str | None,
    n_models: int,
    load_table: Any,
    unavailable: dict[str, str] | None = None,
) -> list[str]:
    """The bill lines of ``vleval run --dry-run``: ``load_table(card)`` gives a benchmark's table (a
    benchmark whose file is missing or unreadable is named, not billed). ``unavailable``: benchmarks
    left out by the caller (name -> why). The total is "unknown" where a benchmark that could need a
    judge was not billed: 0 calls would be a number nobody measured."""
    from vleval.errors import VlevalError

    bills, skipped = [], []
    not_billed = dict(unavailable or {})
    for card in cards:
        try:
            bills.append(estimate_bill(card, protocol, load_table(card), judge_spec))
        except (VlevalError, OSError) as exc:
            not_billed[card.name] = str(exc)
    skipped = [f"  {name:<22} unknown (not billed: {why})" for name, why in not_billed.items()]
    lines = format_bill(bills, n_models)
    judged = [name for name in not_billed if _may_call_judge(name, protocol, judge_spec)]
    if judged:
        lines[-1] = f"  total: unknown ({', '.join(judged)} not billed); " + (
            lines[-1].strip().removeprefix("total") if bills else "nothing else billed"
        )
    return lines[:-1] + skipped + lines[-1:]


def _may_call_judge(name: str, protocol: Protocol, judge_spec: str | None) -> bool:
    """Whether an unbilled benchmark could call a judge, as ``estimate_bill`` decides (an unknown
    name: assume it could)."""
    from vleval.datasets.registry import BENCHMARKS

    card = BENCHMARKS.get(name)
    if card is None:
        return True
    return judge_model_for(judge_spec, card, protocol) is not None and _judged(card)
