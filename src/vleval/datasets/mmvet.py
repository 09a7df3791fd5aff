"""MM-Vet: judge-graded correctness per capability.

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/mmvet.py`` (``build_mmvet_gpt4_prompt``,
``MMVet_auxeval``, ``MMVet_acc``; same at b13a37db and e8e78f05) and
``vlmeval/dataset/image_vqa.py::MMVet.evaluate`` (judge ``max_tokens=3`` at b13a37db, 2048 at e8e78f05:
Quirk.MMVET_MAX_TOKENS_3). Files: ``{stem}_{J}.xlsx``, ``{stem}_{J}_score.csv``,
``{stem}_{J}_score_fine.csv``; accuracies in percent, unrounded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.datasets.scoring import (
    EvalResult,
    ask_in_rounds,
    judge_prompt,
    require_columns,
    require_judge,
    write_csv,
    write_xlsx,
)
from vleval.protocol import Protocol, Quirk
from vleval.types import BenchmarkCard, Judge

CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")
JUDGE_ROUNDS = 5


def build_judge_prompt(row: dict[str, Any]) -> str:
    gold = str(row["answer"]).replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return (
        judge_prompt("mmvet_fewshot.txt")
        + "\n"
        + " | ".join([str(row["question"]), gold, str(row["prediction"]), ""])
    )


def parse_grade(output: str) -> float | None:
    """A float in [0, 1] (Python's float(): ' 0.5\\n' and 'nan' parse), else None."""
    try:
        value = float(output)
    except ValueError:
        return None
    if value < 0 or value > 1:
        return None
    return value


def grade(rows: list[dict[str, Any]], protocol: Protocol, judge: Judge) -> list[tuple[float, str]]:
    """(score, log) per row, as MMVet_auxeval: 5 tries at temperature 0.5 * i, else 0.0."""
    max_tokens = 3 if protocol.has(Quirk.MMVET_MAX_TOKENS_3) else 2048
    prompts = {i: build_judge_prompt(row) for i, row in enumerate(rows)}
    answers = ask_in_rounds(
        judge,
        prompts,
        rounds=JUDGE_ROUNDS,
        accept=lambda _, answer: parse_grade(answer),
        temperature=lambda i: 0.5 * i,
        max_tokens=max_tokens,
    )
    out = []
    for i in range(len(rows)):
        value, raw = answers[i]
        log = ""
        for k, output in enumerate(raw):
            parsed = _float_or_none(output)
            if parsed is None:
                log += f"Try {k}: output is {output}, failed to parse.\n"
            elif parse_grade(output) is None:
                log += f"Try {k}: output is {output}, invalid score: {parsed}.\n"
        if value is None:
            out.append((0.0, log + "All 5 retries failed.\n"))
        else:
            out.append((value, log + "Succeed"))
    return out


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def mmvet_acc(data: pd.DataFrame, protocol: Protocol) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """MMVet_acc: per capability (substring of the category string) and per exact combination.

    Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE: the reference keeps both in one counter, so a row
    whose category is exactly one capability ('ocr') is counted twice under that name."""
    shared = protocol.has(Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE)
    cap_tot: dict[str, int] = {}
    cap_sum: dict[str, float] = {}
    combo_tot, combo_sum = (cap_tot, cap_sum) if shared else ({}, {})
    combos: list[str] = []

    def add(tot: dict[str, int], total: dict[str, float], key: str, value: float) -> None:
        tot[key] = tot.get(key, 0) + 1
        total[key] = total.get(key, 0.0) + value

    for category, value in zip(data["category"], data["score"], strict=True):
        category, value = str(category), float(value)
        combo = category.replace(",", "_")
        if combo not in combos:
            combos.append(combo)
        for capability in CAPABILITIES:
            if capability in category:
                add(cap_tot, cap_sum, capability, value)
        add(cap_tot, cap_sum, "Overall", value)
        if not shared:
            add(combo_tot, combo_sum, "Overall", value)
        add(combo_tot, combo_sum, combo, value)
    missing = [c for c in CAPABILITIES if not cap_tot.get(c)]
    capabilities = [
        c for c in CAPABILITIES if protocol.has(Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT) or cap_tot.get(c)
    ]

    def table(keys: list[str], tot: dict[str, int], total: dict[str, float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "Category": keys,
                "tot": [tot.get(k, 0) for k in keys],
                "acc": [total[k] / tot[k] * 100 if tot.get(k) else math.nan for k in keys],
            }
        )

    return (
        table([*capabilities, "Overall"], cap_tot, cap_sum),
        table([*combos, "Overall"], combo_tot, combo_sum),
        missing,
    )


def score(
    data: pd.DataFrame,
    card: BenchmarkCard,
    protocol: Protocol,
    judge: Judge | None,
    *,
    stem: Path,
    seed: int = 0,
) -> EvalResult:
    judge = require_judge(judge, card)
    require_columns(data, ("index", "prediction", "question", "answer", "category"), card)
    data = data.copy()
    graded = grade(data.to_dict(orient="records"), protocol, judge)
    data["score"] = [s for s, _ in graded]
    data["log"] = [log for _, log in graded]
    storage = write_xlsx(data, stem.parent / f"{stem.name}_{judge.short_name}.xlsx")
    table, fine, missing = mmvet_acc(data, protocol)
    score_path = write_csv(table, stem.parent / f"{stem.name}_{judge.short_name}_score.csv")
    fine_path = write_csv(fine, stem.parent / f"{stem.name}_{judge.short_name}_score_fine.csv")
    notes = []
    if missing and protocol.has(Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT):
        notes.append(
            f"no rows with capability {', '.join(missing)}: the reference stops with ZeroDivisionError here; "
            f"vleval reports NaN for {'it' if len(missing) == 1 else 'them'}."
        )
    overall = table[table["Category"] == "Overall"].iloc[0]
    rows = pd.DataFrame(
        {"index": data["index"], "category": data["category"], "score": data["score"], "log": data["log"]}
    )
    return EvalResult(
        headline=float(overall["acc"]),
        headline_name="Overall acc (percent)",
        tables={"score": table, "score_fine": fine},
        files=[storage, score_path, fine_path],
        rows=rows,
        notes=notes,
        metrics={"missing_capabilities": missing},
    )
