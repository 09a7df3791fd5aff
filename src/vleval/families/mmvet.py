"""MM-Vet: judge-graded correctness per capability.

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/mmvet.py`` (``build_mmvet_gpt4_prompt``,
``MMVet_auxeval``, ``MMVet_acc``; same at b13a37db and e8e78f05) and
``vlmeval/dataset/image_vqa.py::MMVet.evaluate`` (judge ``max_tokens=3`` at b13a37db, 2048 at e8e78f05:
Quirk.MMVET_MAX_TOKENS_3). Files: ``{stem}_{J}.xlsx``, ``{stem}_{J}_score.csv``,
``{stem}_{J}_score_fine.csv``; accuracies in percent, unrounded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.datasets.scoring import ask_in_rounds, call_failed, judge_prompt
from vleval.families.base import (
    OPENXLAB,
    BenchmarkFamily,
    JudgeRole,
    ReferenceOutput,
    Scored,
    accuracy_by_category,
    judged_file,
    number,
    plain_index,
    read_csv_rows,
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.core import RowSums
from vleval.stats.metrics import MeanGrade
from vleval.synthetic.rows import shape_image
from vleval.types import BenchmarkCard, DecidedBy, Judge, JudgeProfile, PromptStyle, RowResult, ScoreRecord

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
    return [(value, log) for value, log, _ in grade_decided(rows, protocol, judge)]


def grade_decided(
    rows: list[dict[str, Any]], protocol: Protocol, judge: Judge
) -> list[tuple[float, str, DecidedBy]]:
    """(score, log, decided by) per row (see ``grade``)."""
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
            out.append((0.0, log + "All 5 retries failed.\n", "failed" if call_failed(raw) else "fallback"))
        else:
            out.append((value, log + "Succeed", "judge"))
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


# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_vqa.py``;
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="MMVet",
        url=f"{OPENXLAB}/VLMEval/MMVet.tsv",
        md5="748aa6d4aa9d4de798306a63718455e3",
        task_type="VQA",
        family="mmvet",
        required_columns=("index", "question", "image", "answer", "category"),
        description="MM-Vet: open answers graded by an LLM judge per capability.",
        prompt=PromptStyle(vqa="verbatim", mpo_keeps_prompt=True),
    ),
)


class MMVetFamily(BenchmarkFamily):
    name = "mmvet"
    listing_order = 50
    judge_role = JudgeRole.OPEN
    judge_required = True
    headline_name = "Overall acc"
    headline_unit = "percent (the reference's acc: mean judge grade x 100)"
    required_columns = ("index", "prediction", "question", "answer", "category")

    # MMVet_acc's Overall acc: the mean judge grade (0-1) x 100
    metric = MeanGrade()

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        tag = judge_short_name
        return [f"_{tag}.xlsx", f"_{tag}_score.csv", f"_{tag}_score_fine.csv"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        assert judge is not None  # judge_required: scoring.score_frame checks
        data = data.copy()
        graded = grade_decided(data.to_dict(orient="records"), protocol, judge)
        data["score"] = [s for s, _, _ in graded]
        data["log"] = [log for _, log, _ in graded]
        table, fine, missing = mmvet_acc(data, protocol)
        notes = []
        if missing and protocol.has(Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT):
            notes.append(
                f"no rows with capability {', '.join(missing)}: the reference stops with ZeroDivisionError here; "
                f"vleval reports NaN for {'it' if len(missing) == 1 else 'them'}."
            )
        overall = float(table[table["Category"] == "Overall"].iloc[0]["acc"])
        rows = [
            RowResult(
                index=plain_index(record["index"]),
                unit=str(record["index"]),
                score=float(value),
                decided_by=how,
                answer=record["answer"],
                prediction=str(record["prediction"]),
                category=str(record["category"]),
                judge_log=[log],
            )
            for record, (value, log, how) in zip(data.to_dict(orient="records"), graded, strict=True)
        ]
        tag = judge.short_name
        return Scored(
            outputs=[
                ReferenceOutput(f"_{tag}.xlsx", data),
                ReferenceOutput(f"_{tag}_score.csv", table),
                ReferenceOutput(f"_{tag}_score_fine.csv", fine),
            ],
            rows=rows,
            headline=overall,
            headline_name=self.headline_name,
            tables={"score": table, "score_fine": fine},
            native={"acc": overall},
            metrics={"acc": overall},
            categories=accuracy_by_category(table, "Category"),
            notes=notes,
        )

    def category_sums(self, rows: Sequence[RowResult], protocol: Protocol) -> dict[str, RowSums]:
        """``category_value`` as sums: (weight x grade, weight) per graded row of the capability,
        zero elsewhere."""
        twice = protocol.has(Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE)
        out = {}
        for name, members in self.category_rows(rows).items():
            inside = {id(row) for row in members}
            weights = [
                0.0
                if id(r) not in inside
                else 2.0
                if twice and str(r.category).replace(",", "_") in CAPABILITIES
                else 1.0
                for r in rows
            ]
            out[name] = self.metric.weighted_sums(rows, weights)
        return out

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """``mmvet_acc``'s capability table: each capability's rows are those whose category string
        contains it (a row with several capabilities is in each set)."""
        out: dict[str, list[RowResult]] = {}
        for row in rows:
            for capability in CAPABILITIES:
                if row.category is not None and capability in row.category:
                    out.setdefault(capability, []).append(row)
        return out

    def category_value(self, rows: Sequence[RowResult], protocol: Protocol) -> float | None:
        """Mean grade x 100 of the capability's rows; under
        Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE a row whose category is that capability alone
        weighs 2, as the reference's shared counter counts it twice."""
        twice = protocol.has(Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE)
        weights = [
            2.0 if twice and str(r.category).replace(",", "_") in CAPABILITIES else 1.0
            for r in rows
            if r.score is not None
        ]
        scores = [float(r.score) for r in rows if r.score is not None]
        if not scores:
            return None
        return sum(w * s for w, s in zip(weights, scores, strict=True)) / sum(weights) * 100

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = judged_file(stem, "_score.csv", judge_model, exclude="_score_fine.csv")
        rows = read_csv_rows(path, "Category") if path else None
        if not rows or "Overall" not in rows or "acc" not in rows["Overall"]:
            return None
        acc = number(rows["Overall"]["acc"])
        return reference_record(
            self,
            stem,
            path,  # type: ignore[arg-type]
            headline=acc,
            headline_name=self.headline_name,
            native={"acc": acc} if acc is not None else {},
            categories=accuracy_by_category(pd.DataFrame(list(rows.values())), "Category"),
            judge_model=judge_model,
        )

    # --- the judge's profile, synthetic data and stand-in judge
    # every row is graded; ~3 tokens: a grade such as 0.5
    judge_profile = JudgeProfile(
        templates=("mmvet_fewshot.txt",), answer_tokens=3, every_row=True, rounds=JUDGE_ROUNDS
    )

    def stand_in_judge(self, prompt: str) -> str | None:
        """1.0 when the prediction holds the ground truth (every <AND> part, or one <OR> part), else 0.5."""
        if "Compare the ground truth and prediction" not in prompt:
            return None
        # the last table row is 'question | ground truth | prediction | ' after the examples
        row = prompt.rpartition("| 1.0\n\n")[2] if "| 1.0\n\n" in prompt else prompt.strip().splitlines()[-1]
        fields = row.split(" | ")
        if len(fields) < 3:
            return "0.0"
        truth, prediction = fields[1], " | ".join(fields[2:]).lower()
        if "<OR>" in truth:
            hit = any(part.strip().lower() in prediction for part in truth.split("<OR>"))
        else:
            hit = all(part.strip().lower() in prediction for part in truth.split("<AND>"))
        return "1.0" if hit else "0.5"


FAMILY = MMVetFamily()


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks)
# --------------------------------------------------------------------------------------------------
def _synthetic_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Two shapes per image; answers with <AND>, <OR> and a plain number; one or two capabilities."""
    rows = []
    for i in range(n):
        image, drawn = shape_image(rng, i, count=2)
        caps = sorted({CAPABILITIES[i % 6], CAPABILITIES[(i * 5 + 1) % 6]})
        (c1, s1), (c2, s2) = drawn
        if i % 3 == 0:
            question, answer = "Which two colours appear in the image?", f"{c1}<AND>{c2}"
        elif i % 3 == 1:
            question, answer = "Name a shape in the image.", f"{s1}<OR>{s2}"
        else:
            question, answer = "How many shapes are there?", "2"
        rows.append(
            {"index": i, "question": question, "answer": answer, "category": ",".join(caps), "image": image}
        )
    return rows


# a card of this family without a builder here is refused, rather than given another benchmark's rows
SYNTHETIC: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {"MMVet": _synthetic_rows}
