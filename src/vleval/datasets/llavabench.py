"""LLaVA-Bench (in-the-wild): the judge scores the model's answer against GPT-4's.

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/llavabench.py`` (``rule_dict``,
``build_prompt``, ``parse_score``, ``LLaVABench_score``; same at b13a37db and e8e78f05, where the
module's import is broken: see benchmarks.md §12) and ``vlmeval/dataset/image_vqa.py::LLaVABench.evaluate``
(judge temperature 0.2 with a system prompt, one call per row, no retry on a bad answer). Files:
``{stem}_openai_result.xlsx`` and ``{stem}_score.csv`` (rounded to 1 decimal). Category rows after
``overall`` are sorted (the reference iterates a set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.scoring import (
    EvalResult,
    judge_prompt,
    require_columns,
    require_judge,
    write_csv,
    write_xlsx,
)
from vleval.protocol import Protocol, Quirk
from vleval.types import BenchmarkCard, Judge, JudgeRequest

JUDGE_TEMPERATURE = 0.2
UNPARSABLE = (-1.0, -1.0)


def build_judge_prompt(row: dict[str, Any]) -> str:
    role, rule = "Assistant", judge_prompt("llavabench_rule.txt")
    return (
        f"[Context]\n{row['caption']}\n\n"
        f"[Question]\n{row['question']}\n\n"
        f"[{role} 1]\n{row['gpt4_ans']}\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\n{row['prediction']}\n\n[End of {role} 2]\n\n"
        f"[System]\n{rule}\n\n"
    )


def parse_score(review: str) -> tuple[float, float] | None:
    """First line, commas as spaces, exactly two space-separated numbers: (gpt4 score, model score)."""
    fields = review.split("\n")[0].replace(",", " ").split(" ")
    if len(fields) != 2:
        return None
    try:
        return float(fields[0]), float(fields[1])
    except ValueError:
        return None


def llavabench_score(data: pd.DataFrame) -> pd.DataFrame:
    splits = ["overall", *sorted(set(data["category"]), key=str)]
    out: dict[str, list[Any]] = {"split": [], "Relative Score (main)": [], "VLM Score": [], "GPT4 Score": []}
    for split in splits:
        sub = data if split == "overall" else data[data["category"] == split]
        mean_score, mean_gpt4 = float(np.mean(sub["score"])), float(np.mean(sub["gpt4_score"]))
        out["split"].append(split)
        out["Relative Score (main)"].append(mean_score / mean_gpt4 * 100 if mean_gpt4 else float("nan"))
        out["VLM Score"].append(mean_score * 10)
        out["GPT4 Score"].append(mean_gpt4 * 10)
    return pd.DataFrame(out).round(1)


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
    require_columns(data, ("index", "prediction", "question", "caption", "gpt4_ans", "category"), card)
    data = data.copy()
    system = judge_prompt("llavabench_system.txt")
    requests = [
        JudgeRequest(
            prompt=build_judge_prompt(row), system=system, temperature=JUDGE_TEMPERATURE,
            max_tokens=protocol.judge_max_tokens,
        )
        for row in data.to_dict(orient="records")
    ]  # fmt: skip
    reviews = judge.ask_many(requests)
    parsed = [parse_score(r) for r in reviews]
    unparsable = sum(1 for p in parsed if p is None)
    keep_minus_one = protocol.has(Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE)
    pairs = [p if p is not None else UNPARSABLE for p in parsed]
    data["gpt4_score"] = [p[0] for p in pairs]
    data["score"] = [p[1] for p in pairs]
    record = write_xlsx(data, stem.parent / f"{stem.name}_openai_result.xlsx")
    scored = data if keep_minus_one else data[[p is not None for p in parsed]]
    table = llavabench_score(scored)
    score_path = write_csv(table, stem.parent / f"{stem.name}_score.csv")
    notes = []
    if unparsable:
        how = "scored [-1, -1] and averaged in, as the reference" if keep_minus_one else "left out"
        notes.append(f"{unparsable} judge review(s) had no 'score score' first line: {how}.")
    rows = pd.DataFrame(
        {
            "index": data["index"],
            "category": data["category"],
            "gpt4_score": data["gpt4_score"],
            "score": data["score"],
            "review": reviews,
        }
    )
    return EvalResult(
        headline=float(table.iloc[0]["Relative Score (main)"]),
        headline_name="overall Relative Score (main) (percent, 1 decimal)",
        tables={"score": table},
        files=[record, score_path],
        rows=rows,
        notes=notes,
        metrics={"unparsable_reviews": unparsable},
    )
