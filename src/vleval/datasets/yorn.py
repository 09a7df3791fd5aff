"""Yes/No scoring: HallusionBench (aAcc, fAcc, qAcc).

Sources (open-compass/VLMEvalKit, same logic at b13a37db and e8e78f05):
``vlmeval/dataset/image_yorn.py::ImageYORNDataset.evaluate`` and ``vlmeval/dataset/utils/yorn.py``
(``YOrN_Extraction``, ``YOrN_match_prompt``, ``YOrN_auxeval``, ``Hallusion_rating``); punctuation
handling differs between the commits (see ``matching.process_punctuation``).
Row order of the rating table: ``Overall``, then categories, then l2-categories, each sorted (the
reference iterates Python sets).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.matching import process_punctuation
from vleval.datasets.scoring import (
    EvalResult,
    ask_in_rounds,
    judge_prompt,
    require_columns,
    write_csv,
    write_xlsx,
)
from vleval.errors import DataCorruptError
from vleval.protocol import Protocol
from vleval.types import BenchmarkCard, Judge

JUDGE_ROUNDS = 5  # YOrN_auxeval: 5 calls at temperature 0.5 * i


def yorn_extraction(output: str, protocol: Protocol) -> str:
    words = process_punctuation(output.lower(), protocol).split()
    if "yes" in words and "no" not in words:
        return "Yes"
    if "yes" not in words and "no" in words:
        return "No"
    return "Unknown"


def build_judge_prompt(question: Any, prediction: str) -> str:
    return judge_prompt("yorn_match.txt").format(question, prediction)


def extract_answers(
    rows: list[dict[str, Any]], protocol: Protocol, judge: Judge | None
) -> list[tuple[str, str]]:
    """(Yes/No/Unknown, how) per row; how is 'rule', 'judge', 'judge_failed' or 'no_judge'."""
    out = [(yorn_extraction(row["prediction"], protocol), "rule") for row in rows]
    unknown = {i: build_judge_prompt(row.get("question"), row["prediction"]) for i, row in enumerate(rows)
               if out[i][0] == "Unknown"}  # fmt: skip
    if not unknown:
        return out
    if judge is None:
        for i in unknown:
            out[i] = ("Unknown", "no_judge")
        return out

    def accept(_: int, answer: str) -> str | None:
        found = yorn_extraction(answer, protocol)
        return None if found == "Unknown" else found

    answers = ask_in_rounds(
        judge,
        unknown,
        rounds=JUDGE_ROUNDS,
        accept=accept,
        temperature=lambda i: 0.5 * i,
        max_tokens=protocol.judge_max_tokens,
    )
    for i, (value, _) in answers.items():
        out[i] = (value, "judge") if value else ("Unknown", "judge_failed")
    return out


def hallusion_rating(data: pd.DataFrame) -> pd.DataFrame:
    """Percent (x100), unrounded: question accuracy, figure accuracy, question-pair accuracy."""
    data = data.copy()
    parts = [str(x).split("_") for x in data["index"]]
    if any(len(p) < 6 for p in parts):
        bad = next(str(x) for x, p in zip(data["index"], parts, strict=True) if len(p) < 6)
        raise DataCorruptError(
            f"HallusionBench: index {bad!r} does not have the reference's form "
            f"'<a>_<b>_<c>_<set_id>_<figure_id>_<question_id>'."
        )
    data["set_id"] = [p[3] for p in parts]
    data["figure_id"] = [p[4] for p in parts]
    data["question_id"] = [p[5] for p in parts]

    def group_acc(sub: pd.DataFrame, key: str) -> float:
        groups: dict[str, list[bool]] = defaultdict(list)
        for l2, set_id, k, hit in zip(sub["l2-category"], sub["set_id"], sub[key], sub["score"], strict=True):
            groups[f"{l2}_{set_id}_{k}"].append(bool(hit))
        return float(np.mean([all(v) for v in groups.values()]) * 100)

    def line(split: str, sub: pd.DataFrame) -> dict[str, Any]:
        return {
            "split": split,
            "aAcc": float(np.mean(sub["score"]) * 100),
            "fAcc": group_acc(sub, "figure_id"),
            "qAcc": group_acc(sub, "question_id"),
        }

    lines = [line("Overall", data)]
    for column in ("category", "l2-category"):
        if column in data.columns:
            for value in sorted(set(data[column]), key=str):
                lines.append(line(value, data[data[column] == value]))
    return pd.DataFrame(lines, columns=["split", "aAcc", "fAcc", "qAcc"])


def score(
    data: pd.DataFrame,
    card: BenchmarkCard,
    protocol: Protocol,
    judge: Judge | None,
    *,
    stem: Path,
    seed: int = 0,
) -> EvalResult:
    require_columns(data, ("index", "prediction", "answer", "l2-category"), card)
    data = data.copy()
    data["prediction"] = [str(x) for x in data["prediction"]]
    extracted = extract_answers(data.to_dict(orient="records"), protocol, judge)
    data["extracted"] = [e for e, _ in extracted]
    data["score"] = data["answer"] == data["extracted"]
    storage = stem.parent / f"{stem.name}_auxmatch.xlsx"
    write_xlsx(data, storage)
    rating = hallusion_rating(data)
    score_path = stem.parent / f"{stem.name}_score.csv"
    write_csv(rating, score_path)
    overall = rating.iloc[0]
    no_judge = sum(1 for _, how in extracted if how == "no_judge")
    unknown = int((data["extracted"] == "Unknown").sum())
    notes = []
    if no_judge:
        notes.append(
            f"{no_judge} row(s) were neither yes nor no and had no judge: counted as 'Unknown' (wrong)."
        )
    mean3 = float(np.mean([overall["aAcc"], overall["fAcc"], overall["qAcc"]]))
    rows = pd.DataFrame(
        {
            "index": data["index"],
            "answer": data["answer"],
            "extracted": data["extracted"],
            "hit": data["score"].astype(int),
            "how": [h for _, h in extracted],
        }
    )
    return EvalResult(
        headline=mean3,
        headline_name="mean(aAcc, fAcc, qAcc) of Overall (percent; leaderboard figure)",
        tables={"score": rating},
        files=[storage, score_path],
        rows=rows,
        notes=notes,
        metrics={
            "aAcc": float(overall["aAcc"]),
            "fAcc": float(overall["fAcc"]),
            "qAcc": float(overall["qAcc"]),
            "rows_without_judge": no_judge,
            "unknown": unknown,
        },
    )
