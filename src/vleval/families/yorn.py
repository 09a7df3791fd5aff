"""Yes/No scoring: HallusionBench (aAcc, fAcc, qAcc).

Sources (open-compass/VLMEvalKit, same logic at b13a37db and e8e78f05):
``vlmeval/dataset/image_yorn.py::ImageYORNDataset.evaluate`` and ``vlmeval/dataset/utils/yorn.py``
(``YOrN_Extraction``, ``YOrN_match_prompt``, ``YOrN_auxeval``, ``Hallusion_rating``); punctuation
handling differs between the commits (see ``matching.process_punctuation``).
Row order of the rating table: ``Overall``, then categories, then l2-categories, each sorted (the
reference iterates Python sets).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.cells import isna
from vleval.datasets.matching import process_punctuation
from vleval.datasets.scoring import ask_in_rounds, call_failed, judge_prompt
from vleval.errors import DataCorruptError
from vleval.families.base import (
    OPENXLAB,
    BenchmarkFamily,
    JudgeRole,
    ReferenceOutput,
    Scored,
    last_segment,
    number,
    plain_index,
    read_csv_rows,
    reference_record,
)
from vleval.protocol import DEFAULT_PROTOCOL, Protocol, get_protocol
from vleval.stats.core import ROW, UNIT
from vleval.stats.metrics import MeanOfSubMetrics, ShareRight
from vleval.synthetic.images import COLOURS
from vleval.synthetic.rows import NAN, shape_image
from vleval.types import BenchmarkCard, DecidedBy, Judge, JudgeProfile, PromptStyle, RowResult, ScoreRecord

JUDGE_ROUNDS = 5  # YOrN_auxeval: 5 calls at temperature 0.5 * i
FIGURE = "figure"  # the RowResult.groups key naming a row's figure group (the unit of fAcc)


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
    """(Yes/No/Unknown, how) per row; how is 'rule', 'judge', 'judge_failed' (five unreadable answers),
    'call_failed' (the judge call failed) or 'no_judge'."""
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
    for i, (value, raw) in answers.items():
        if value:
            out[i] = (value, "judge")
        else:
            out[i] = ("Unknown", "call_failed" if call_failed(raw) else "judge_failed")
    return out


def hallusion_rating(data: pd.DataFrame) -> pd.DataFrame:
    """Percent (x100), unrounded: question accuracy, figure accuracy, question-pair accuracy."""
    data = data.copy()
    parts = _index_parts(data["index"])
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


def _index_parts(indices) -> list[list[str]]:
    parts = [str(x).split("_") for x in indices]
    if any(len(p) < 6 for p in parts):
        bad = next(str(x) for x, p in zip(indices, parts, strict=True) if len(p) < 6)
        raise DataCorruptError(
            f"HallusionBench: index {bad!r} does not have the reference's form "
            f"'<a>_<b>_<c>_<set_id>_<figure_id>_<question_id>'."
        )
    return parts


HOW_DECIDED: dict[str, DecidedBy] = {
    "rule": "rule",
    "judge": "judge",
    "judge_failed": "fallback",
    "no_judge": "fallback",
    "call_failed": "failed",
}


# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_yorn.py`` (``ImageYORNDataset``);
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="HallusionBench",
        url=f"{OPENXLAB}/VLMEval/HallusionBench.tsv",
        md5="0c23ac0dc9ef46832d7a24504f2a0c7c",
        task_type="Y/N",
        family="yorn",
        required_columns=("index", "question", "image", "answer", "category", "l2-category"),
        description="HallusionBench yes/no questions: aAcc, fAcc, qAcc.",
        prompt=PromptStyle(
            yorn_instruction="Please answer yes or no.", mpo_without_cot=True, mpo_postprocess=True
        ),
    ),
)


class YesNoFamily(BenchmarkFamily):
    name = "yorn"
    listing_order = 30
    judge_role = JudgeRole.CHOICE
    scale = "mean(aAcc, fAcc, qAcc)"
    headline_name = "mean(aAcc, fAcc, qAcc) of Overall"
    headline_unit = "percent (the leaderboard's figure; the reference's table has aAcc, fAcc, qAcc)"
    required_columns = ("index", "prediction", "answer", "l2-category")

    # Hallusion_rating's Overall line, as the leaderboard reports it: the mean of aAcc (rows), fAcc
    # (figure groups) and qAcc (question groups, the rows' units)
    metric = MeanOfSubMetrics(
        parts=(
            ("aAcc", ShareRight(over=ROW)),
            ("fAcc", ShareRight(over=FIGURE)),
            ("qAcc", ShareRight(over=UNIT)),
        )
    )

    def question_keys(self, table: pd.DataFrame, card: BenchmarkCard, protocol: Protocol) -> list[str]:
        """A question set (``<l2-category>_<set_id>``) holds the paired questions and figures that
        qAcc and fAcc score together (the units of ``score``): one question for ``--limit``."""
        parts = _index_parts(list(table["index"]))
        return [f"{l2}_{p[3]}" for l2, p in zip(table["l2-category"], parts, strict=True)]

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        return ["_auxmatch.xlsx", "_score.csv"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        data = data.copy()
        data["prediction"] = [str(x) for x in data["prediction"]]
        extracted = extract_answers(data.to_dict(orient="records"), protocol, judge)
        data["extracted"] = [e for e, _ in extracted]
        data["score"] = data["answer"] == data["extracted"]
        rating = hallusion_rating(data)
        overall = rating.iloc[0]
        no_judge = sum(1 for _, how in extracted if how == "no_judge")
        notes = []
        if no_judge:
            notes.append(
                f"{no_judge} row(s) were neither yes nor no and had no judge: counted as 'Unknown' (wrong)."
            )
        unknown = int((data["extracted"] == "Unknown").sum())
        if unknown > no_judge:
            notes.append(f"{unknown} row(s) in all read as neither yes nor no ('Unknown', counted wrong).")
        three = {k: float(overall[k]) for k in ("aAcc", "fAcc", "qAcc")}
        parts = _index_parts(list(data["index"]))
        rows = [
            RowResult(
                index=plain_index(record["index"]),
                unit=f"{record['l2-category']}_{p[3]}_{p[5]}",
                score=float(bool(record["score"])),
                decided_by=HOW_DECIDED[how],
                extracted=record["extracted"],
                answer=record["answer"],
                prediction=record["prediction"],
                groups={FIGURE: f"{record['l2-category']}_{p[3]}_{p[4]}"},
                category=None if isna(record.get("category")) else str(record["category"]),
            )
            for record, p, (_, how) in zip(data.to_dict(orient="records"), parts, extracted, strict=True)
        ]
        return Scored(
            outputs=[ReferenceOutput("_auxmatch.xlsx", data), ReferenceOutput("_score.csv", rating)],
            rows=rows,
            headline=float(np.mean(list(three.values()))),
            headline_name=self.headline_name,
            tables={"score": rating},
            native=three,
            metrics=three,
            categories=_mean3_by_split(rating),
            notes=notes,
        )

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """``hallusion_rating``'s lines: each ``category`` value, then each ``l2-category`` value (a
        later line of the same name wins, as in ``_mean3_by_split``). The l2-category is the first part
        of the row's unit ``<l2-category>_<set_id>_<question_id>`` (the ids come from splitting the index
        on '_', so they hold none)."""
        by_category: dict[str, list[RowResult]] = {}
        by_l2: dict[str, list[RowResult]] = {}
        for row in rows:
            if row.category is not None:
                by_category.setdefault(row.category, []).append(row)
            by_l2.setdefault(row.unit.rsplit("_", 2)[0], []).append(row)
        return {**by_category, **by_l2}

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_score.csv")
        rows = read_csv_rows(path, "split")
        if not rows or "Overall" not in rows:
            return None
        table = pd.DataFrame(list(rows.values()))
        three = {k: number(rows["Overall"].get(k)) for k in ("aAcc", "fAcc", "qAcc")}
        known = {k: v for k, v in three.items() if v is not None}
        return reference_record(
            self,
            stem,
            path,
            headline=float(np.mean(list(known.values()))) if len(known) == 3 else None,
            headline_name=self.headline_name,
            native=known,
            categories=_mean3_by_split(table),
            judge_model=judge_model,
        )

    def reference_rows(self, stem: Path) -> list[RowResult]:
        path = stem.with_name(stem.name + "_auxmatch.xlsx")
        try:
            table = pd.read_excel(path) if path.is_file() else None
        except (OSError, ValueError):
            return []
        if table is None or not {"index", "score"} <= set(table.columns):
            return []
        protocol = get_protocol(DEFAULT_PROTOCOL)  # the yes/no rules are the same under every protocol
        return [
            RowResult(
                index=plain_index(r["index"]),
                unit=str(r["index"]),
                score=number(r["score"]),
                decided_by=_decided(r, protocol),
                extracted=None if isna(r.get("extracted")) else str(r.get("extracted")),
            )
            for r in table.to_dict("records")
        ]

    # --- the judge's profile, synthetic data and stand-in judge
    # one call per row the rules cannot read; 2 tokens: Yes, No or Unknown
    judge_profile = JudgeProfile(
        templates=("yorn_match.txt",), answer_tokens=2, every_row=False, rounds=JUDGE_ROUNDS
    )

    def synthetic_rows(self, card: BenchmarkCard, rng: random.Random, n: int) -> list[dict[str, Any]]:
        builder = _SYNTHETIC.get(card.name)
        return builder(rng, n) if builder else super().synthetic_rows(card, rng, n)

    def stand_in_judge(self, prompt: str) -> str | None:
        """Yes or No when the answer says one of them only, else Unknown."""
        if "The options are only Yes / No" not in prompt:
            return None
        words = re.sub(r"[^\w\s]", " ", last_segment(prompt, "Answer:", "Your output:").lower()).split()
        if "yes" in words and "no" not in words:
            return "Yes"
        if "no" in words and "yes" not in words:
            return "No"
        return "Unknown"


FAMILY = YesNoFamily()


def _decided(row: dict[str, Any], protocol: Protocol) -> DecidedBy:
    """How a row of the reference's ``_auxmatch.xlsx`` was decided: the rules read its prediction, or
    else the judge gave the extracted answer (an 'Unknown' left is the fallback)."""
    prediction = "" if isna(row.get("prediction")) else str(row.get("prediction"))
    if yorn_extraction(prediction, protocol) != "Unknown":
        return "rule"
    return "fallback" if isna(row.get("extracted")) or str(row.get("extracted")) == "Unknown" else "judge"


def _mean3_by_split(rating: pd.DataFrame) -> dict[str, float]:
    """Per category: the mean of its aAcc, fAcc and qAcc (the report's chart bars)."""
    out = {}
    for _, line in rating.iterrows():
        values = [number(line.get(k)) for k in ("aAcc", "fAcc", "qAcc")]
        if str(line["split"]) != "Overall" and None not in values:
            out[str(line["split"])] = float(np.mean(values))
    return out


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks)
# --------------------------------------------------------------------------------------------------
_SYNTHETIC_L2 = ("chart", "table", "map", "ocr", "figure", "math", "illusion")


def _synthetic_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """HallusionBench-like sets of 2 figures x 2 questions; a figure's second question names the first
    one's image; and one question without a figure (the reference drops rows whose image is empty)."""
    rows: list[dict[str, Any]] = []
    first_of_figure: dict[tuple[int, int], tuple[str, str]] = {}  # (set, figure) -> (index, colour)
    for i in range(n):
        set_id, figure_id, question_id = i // 4, (i // 2) % 2, i % 2
        category = "VS" if set_id % 2 == 0 else "VD"
        l2 = _SYNTHETIC_L2[set_id % len(_SYNTHETIC_L2)]
        index = f"{category}_{l2}_{set_id}_{set_id}_{figure_id}_{question_id}"
        key = (set_id, figure_id)
        if key in first_of_figure:
            image, drawn_colour = first_of_figure[key]
        else:
            image, drawn = shape_image(rng, i, count=1)
            drawn_colour = drawn[0][0]
            first_of_figure[key] = (index, drawn_colour)
        asked = (
            drawn_colour if (i + set_id) % 2 == 0 else rng.choice([c for c in COLOURS if c != drawn_colour])
        )
        answer = "Yes" if asked == drawn_colour else "No"
        rows.append(
            {
                "index": index,
                "question": f"Is there a {asked} shape in the image?",
                "answer": answer,
                "category": category,
                "l2-category": l2,
                "image": image,
            }
        )
    rows.append(
        {
            "index": f"VS_{_SYNTHETIC_L2[0]}_{n}_{n}_0_0",
            "question": "Is the Eiffel Tower in Paris?",
            "answer": "Yes",
            "category": "VS",
            "l2-category": _SYNTHETIC_L2[0],
            "image": NAN,
        }
    )
    return rows


# a card of this family without a builder here is refused, rather than given another benchmark's rows
_SYNTHETIC: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {
    "HallusionBench": _synthetic_rows
}
