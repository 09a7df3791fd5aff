"""MathVista_MINI: rule prefetch, judge extraction, accuracy per task and skill.

Sources (open-compass/VLMEvalKit, identical logic at b13a37db and e8e78f05):
``vlmeval/dataset/utils/mathvista.py`` (``build_mathvista_gpt4_prompt``, ``post_check``,
``MathVista_auxeval``, ``MathVista_acc``) and ``vlmeval/dataset/image_vqa.py::MathVista.evaluate``
(judge ``max_tokens=128``; files ``{stem}_{J}.xlsx`` and ``{stem}_{J}_score.csv``).

Quirks (``protocol.py``): MATHVISTA_LIST_NEVER_CORRECT (free-form answers compare the string
'None'), MATHVISTA_PREFETCH_ANY_LETTER (a wrong letter is a successful prefetch),
MATHVISTA_ZERO_PREFETCH_FALSY (a prefetched 0 goes to the judge), MATHVISTA_INT_REJECTS_DECIMAL
('8.0' is wrong for 8), MATHVISTA_PRECISION_IGNORED (``precision`` is never used). vleval-1 fixes all
but the prefetch rule (see ``protocol.QUIRKS``).
"""

from __future__ import annotations

import ast
import math
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.datasets.cells import isna, xlsx_round_trip
from vleval.datasets.matching import can_infer, is_failure_text
from vleval.datasets.scoring import ask_in_rounds, call_failed, judge_prompt
from vleval.errors import DataCorruptError
from vleval.families.base import (
    OPENXLAB,
    BenchmarkFamily,
    JudgeRole,
    ReferenceOutput,
    Scored,
    accuracy_by_category,
    judged_file,
    last_segment,
    number,
    plain_index,
    read_csv_rows,
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.core import ROW
from vleval.stats.metrics import ShareRight
from vleval.synthetic.images import SIZES, draw_bar_chart
from vleval.synthetic.rows import LETTERS, NAN, encode_varied
from vleval.types import BenchmarkCard, DecidedBy, Judge, JudgeProfile, PromptStyle, RowResult, ScoreRecord

JUDGE_ROUNDS = 5
JUDGE_MAX_TOKENS = 128
PREFETCH_LOG = "Prefetch succeed"
SKILLS = "skills"  # RowResult.extra key: the row's skills, as mathvista_acc counts them


def build_judge_prompt(row: dict[str, Any]) -> str:
    # 'respone' and the missing newline before 'Extracted answer:' are the reference's
    return (
        judge_prompt("mathvista_ice.txt")
        + f"{row['question']}\n"
        + f"Model respone: {row['prediction']}"
        + ("Extracted answer:")
    )


def _choices(row: dict[str, Any]) -> dict[str, Any]:
    try:
        values = ast.literal_eval(str(row["choices"]))
    except (ValueError, SyntaxError):
        raise DataCorruptError(
            f"MathVista: row {row['index']}: 'choices' is not a Python list literal: {row['choices']!r}."
        ) from None
    return {chr(65 + i): v for i, v in enumerate(values)}


def post_check(row: dict[str, Any], protocol: Protocol, *, prefetch: bool) -> Any:
    """The reference's post_check: with ``prefetch`` the value read from the raw prediction (or a
    falsy value); otherwise whether ``row['res']`` is correct."""
    res: Any = None
    ans: Any = row["answer"]
    response = row["prediction"] if prefetch else row["res"]
    try:
        if row["question_type"] == "multi_choice":
            ans = row["answer_option"]
            res = can_infer(response, _choices(row), protocol) or False
            if prefetch and (protocol.has(Quirk.MATHVISTA_PREFETCH_ANY_LETTER) or res == ans):
                return res
        elif row["answer_type"] == "integer":
            to_int = int if protocol.has(Quirk.MATHVISTA_INT_REJECTS_DECIMAL) else _integral
            res = to_int(response)
            ans = int(row["answer"])
        elif row["answer_type"] == "float":
            res = float(response)
            ans = float(row["answer"])
            places = None if protocol.has(Quirk.MATHVISTA_PRECISION_IGNORED) else _places(row)
            if places is not None:
                res, ans = round(res, places), round(ans, places)
        else:
            # the reference stringifies its unset `res` (None), so these are never right
            res = str(res) if protocol.has(Quirk.MATHVISTA_LIST_NEVER_CORRECT) else str(response)
            ans = str(ans)
    except (ValueError, TypeError):
        pass
    if res == ans:
        return res if prefetch else True
    return False


def _integral(value: Any) -> int:
    """Without Quirk.MATHVISTA_INT_REJECTS_DECIMAL: a number with an integral value ('8.0', ' 8 ') as
    that integer; anything else raises ValueError, as int() does."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"{value!r} is not an integer")
    return int(number)


def _places(row: dict[str, Any]) -> int | None:
    """Without Quirk.MATHVISTA_PRECISION_IGNORED: the row's ``precision`` (decimal places) where it
    is a number, as the official MathVista scorer rounds to it (lupantech/MathVista
    evaluation/calculate_score.py::normalize_extracted_answer)."""
    try:
        places = float(row.get("precision"))
    except (TypeError, ValueError):
        return None
    return int(places) if math.isfinite(places) and places >= 0 else None


def _prefetched(value: Any, protocol: Protocol) -> bool:
    if protocol.has(Quirk.MATHVISTA_ZERO_PREFETCH_FALSY):
        return bool(value)
    return value is not False and value is not None


def extract(rows: list[dict[str, Any]], protocol: Protocol, judge: Judge) -> list[tuple[Any, str]]:
    """(res, log) per row, as MathVista_auxeval (``extract_decided`` also says how)."""
    return [(res, log) for res, log, _ in extract_decided(rows, protocol, judge)]


def extract_decided(
    rows: list[dict[str, Any]], protocol: Protocol, judge: Judge
) -> list[tuple[Any, str, DecidedBy]]:
    """(res, log, decided by) per row, as MathVista_auxeval."""
    out: list[tuple[Any, str, DecidedBy] | None] = []
    prompts: dict[int, str] = {}
    for i, row in enumerate(rows):
        value = post_check(row, protocol, prefetch=True)
        if _prefetched(value, protocol):
            out.append((value, PREFETCH_LOG, "rule"))
        else:
            out.append(None)
            prompts[i] = build_judge_prompt(row)
    answers = ask_in_rounds(
        judge,
        prompts,
        rounds=JUDGE_ROUNDS,
        accept=lambda _, answer: None if is_failure_text(answer) else answer,
        temperature=lambda i: 0.5 * i,
        max_tokens=JUDGE_MAX_TOKENS,
    )
    for i, (value, raw) in answers.items():
        prediction = rows[i]["prediction"]
        log = "".join(f"Try {k}: output is {prediction}, failed to parse.\n" for k in range(len(raw) - 1))
        if value is None:
            out[i] = (
                "",
                log
                + f"Try {len(raw) - 1}: output is {prediction}, failed to parse.\nAll 5 retries failed.\n",
                "failed" if call_failed(raw) else "fallback",
            )
        else:
            out[i] = (value, log + "Succeed", "judge")
    return [o for o in out if o is not None]


def _skills(value: Any) -> list[Any]:
    try:
        skills = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return [value]
    return list(skills) if isinstance(skills, list | tuple) else [value]


def mathvista_acc(data: pd.DataFrame, protocol: Protocol) -> tuple[pd.DataFrame, list[bool]]:
    """MathVista_acc: counters in first-seen order (Overall, then each row's skills and task)."""
    tot: dict[Any, int] = {}
    fetch: dict[Any, int] = {}
    hit: dict[Any, int] = {}
    hits = []
    for row in data.to_dict(orient="records"):
        keys = ["Overall", *_skills(row.get("skills")), row.get("task")]
        for k in keys:
            tot[k] = tot.get(k, 0) + 1
        task_skill_keys = ["Overall", row.get("task"), *_skills(row.get("skills"))]
        if row["log"] == PREFETCH_LOG:
            for k in task_skill_keys:
                fetch[k] = fetch.get(k, 0) + 1
        ok = bool(post_check(row, protocol, prefetch=False))
        hits.append(ok)
        if ok:
            for k in task_skill_keys:
                hit[k] = hit.get(k, 0) + 1
    table = pd.DataFrame(
        {
            "Task&Skill": list(tot),
            "tot": [tot[k] for k in tot],
            "prefetch": [fetch.get(k, 0) for k in tot],
            "hit": [hit.get(k, 0) for k in tot],
            "prefetch_rate": [fetch.get(k, 0) / tot[k] * 100 for k in tot],
            "acc": [hit.get(k, 0) / tot[k] * 100 for k in tot],
        }
    )
    return table, hits


# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_vqa.py``;
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="MathVista_MINI",
        url=f"{OPENXLAB}/VLMEval/MathVista_MINI.tsv",
        md5="f199b98e178e5a2a20e7048f5dcb0464",
        task_type="VQA",
        family="mathvista",
        required_columns=("index", "question", "image", "answer", "question_type", "answer_type"),
        description="MathVista testmini: answer extraction by judge, accuracy per task and skill.",
        prompt=PromptStyle(vqa="verbatim"),
    ),
)


class MathVistaFamily(BenchmarkFamily):
    name = "mathvista"
    listing_order = 20
    judge_role = JudgeRole.MATH
    judge_required = True
    free_form_answers = True
    headline_name = "Overall acc"
    headline_unit = "percent (the reference's acc)"
    required_columns = ("index", "prediction", "question", "answer", "question_type", "answer_type")

    # the share of right rows (MathVista_acc's Overall acc)
    metric = ShareRight(over=ROW)

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        return [f"_{judge_short_name}.xlsx", f"_{judge_short_name}_score.csv"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        assert judge is not None  # judge_required: scoring.score_frame checks
        data = data.copy()
        extracted = extract_decided(data.to_dict(orient="records"), protocol, judge)
        # the reference reads res back from its xlsx: '' and NA spellings become NaN
        data["res"] = [xlsx_round_trip(res) for res, _, _ in extracted]
        data["log"] = [log for _, log, _ in extracted]
        table, hits = mathvista_acc(data, protocol)
        overall = table[table["Task&Skill"] == "Overall"].iloc[0]
        rows = [
            RowResult(
                index=plain_index(record["index"]),
                unit=str(record["index"]),
                score=float(hit),
                decided_by=how,
                extracted=None if isna(record["res"]) else record["res"],
                answer=record["answer"],
                prediction=str(record["prediction"]),
                category=None if isna(record.get("task")) else str(record["task"]),
                judge_log=[record["log"]],
                extra={SKILLS: [str(k) for k in _skills(record.get("skills"))]},
            )
            for record, hit, (_, _, how) in zip(data.to_dict(orient="records"), hits, extracted, strict=True)
        ]
        tag = judge.short_name
        return Scored(
            outputs=[ReferenceOutput(f"_{tag}.xlsx", data), ReferenceOutput(f"_{tag}_score.csv", table)],
            rows=rows,
            headline=float(overall["acc"]),
            headline_name=self.headline_name,
            tables={"score": table},
            native={"acc": float(overall["acc"])},
            metrics={"acc": float(overall["acc"]), "prefetch_rate": float(overall["prefetch_rate"])},
            categories=accuracy_by_category(table, "Task&Skill"),
        )

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """``mathvista_acc``'s keys: each task (``category``) and each skill (``extra["skills"]``); a row
        with several skills is in each of their sets, and each key's acc is the share of right rows in its
        set. Rows written before skills were recorded give no skill sets (no interval for skills)."""
        out: dict[str, list[RowResult]] = {}
        for row in rows:
            keys = [*(row.extra.get(SKILLS) or []), row.category]
            for key in dict.fromkeys(k for k in keys if k is not None):
                out.setdefault(str(key), []).append(row)
        return out

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = judged_file(stem, "_score.csv", judge_model)
        rows = read_csv_rows(path, "Task&Skill") if path else None
        if not rows or "Overall" not in rows or "acc" not in rows["Overall"]:
            return None
        acc = number(rows["Overall"]["acc"])
        table = pd.DataFrame(list(rows.values()))
        return reference_record(
            self,
            stem,
            path,  # type: ignore[arg-type]
            headline=acc,
            headline_name=self.headline_name,
            native={"acc": acc} if acc is not None else {},
            categories=accuracy_by_category(table, "Task&Skill"),
            judge_model=judge_model,
        )

    # --- the judge's profile, synthetic data and stand-in judge
    # one call per row the rules cannot read; ~8 tokens: an extracted number, letter or short list
    judge_profile = JudgeProfile(
        templates=("mathvista_ice.txt",), answer_tokens=8, every_row=False, rounds=JUDGE_ROUNDS
    )

    def right_answer(self, card: BenchmarkCard, row: dict[str, Any]) -> str:
        """The option letter of a multiple-choice row, else the answer."""
        return str(row["answer_option"] if row.get("question_type") == "multi_choice" else row["answer"])

    def stand_in_judge(self, prompt: str) -> str | None:
        """The last number of the model's response (else the response): a sensible extraction."""
        if "Extracted answer:" not in prompt:
            return None
        response = last_segment(prompt, "Model respone:").removesuffix("Extracted answer:").strip()
        numbers = re.findall(r"-?\d+(?:\.\d+)?", response.replace(",", ""))
        return numbers[-1] if numbers else response


FAMILY = MathVistaFamily()


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks)
# --------------------------------------------------------------------------------------------------
_SYNTHETIC_TASKS = (
    "figure question answering",
    "math word problem",
    "geometry problem solving",
    "textbook question answering",
    "visual question answering",
)


def _synthetic_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Bar charts with questions of the four kinds the rules treat apart: multiple choice, integer,
    float with a precision, and list."""
    rows = []
    for i in range(n):
        values = [rng.randint(1, 20) for _ in range(3 + i % 3)]
        size = SIZES[1:][i % (len(SIZES) - 1)]
        image = encode_varied(draw_bar_chart(values, size), i)
        kind = i % 4
        row: dict[str, Any] = {"index": i + 1}
        if kind == 0:
            choices = [str(max(values)), str(min(values)), str(sum(values)), str(values[0] + 100)]
            row.update(
                question="Which value is the tallest bar?\nChoices:\n"
                + "\n".join(f"({LETTERS[k]}) {c}" for k, c in enumerate(choices)),
                answer=choices[0],
                choices=str(choices),
                unit=NAN,
                precision=NAN,
                question_type="multi_choice",
                answer_type="text",
                answer_option="A",
            )
        elif kind == 1:
            row.update(
                question="What is the sum of all bars?",
                answer=str(sum(values)),
                choices=NAN,
                unit=NAN,
                precision=NAN,
                question_type="free_form",
                answer_type="integer",
                answer_option=NAN,
            )
        elif kind == 2:
            row.update(
                question="What is the mean bar value? Answer with one decimal place.",
                answer=f"{sum(values) / len(values):.1f}",
                choices=NAN,
                unit=NAN,
                precision=1.0,
                question_type="free_form",
                answer_type="float",
                answer_option=NAN,
            )
        else:
            row.update(
                question="List the two leftmost bar values.",
                answer=str(values[:2]),
                choices=NAN,
                unit=NAN,
                precision=NAN,
                question_type="free_form",
                answer_type="list",
                answer_option=NAN,
            )
        skills = ["statistical reasoning", "arithmetic reasoning"][: 1 + i % 2]
        row.update(task=_SYNTHETIC_TASKS[i % len(_SYNTHETIC_TASKS)], skills=str(skills), image=image)
        rows.append(row)
    return rows


# a card of this family without a builder here is refused, rather than given another benchmark's rows
SYNTHETIC: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {
    "MathVista_MINI": _synthetic_rows
}
