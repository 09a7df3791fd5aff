"""Yes/No scoring: HallusionBench (aAcc, fAcc, qAcc), MME (perception and reasoning sums of
acc + acc+), POPE (F1, accuracy, precision, recall per split).

Sources (open-compass/VLMEvalKit, same logic at b13a37db and e8e78f05):
``vlmeval/dataset/image_yorn.py::ImageYORNDataset.evaluate`` and ``vlmeval/dataset/utils/yorn.py``
(``YOrN_Extraction``, ``YOrN_match_prompt``, ``YOrN_auxeval``, ``Hallusion_rating``, ``MME_rating``,
``POPE_rating``); punctuation handling differs between the commits (see ``matching.process_punctuation``).
The reference picks the rating by dataset name; here the card's ``scoring`` names it.
Row order of the HallusionBench and POPE tables: ``Overall``, then the categories (then l2-categories)
sorted (the reference iterates Python sets).
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
    HEADLINE,
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
from vleval.stats.core import CATEGORY, ROW, UNIT, RowSums, ratio, share
from vleval.stats.metrics import MeanOfSubMetrics, Metric, OwnRule, ShareRight
from vleval.synthetic.images import COLOURS
from vleval.synthetic.rows import NAN, shape_image, shared_or_new
from vleval.types import BenchmarkCard, DecidedBy, Judge, JudgeProfile, PromptStyle, RowResult, ScoreRecord

JUDGE_ROUNDS = 5  # YOrN_auxeval: 5 calls at temperature 0.5 * i
FIGURE = "figure"  # the RowResult.groups key naming a row's figure group (the unit of fAcc)
MME_SCORING = "mme"
POPE_SCORING = "pope"
RATING = (
    "rating"  # RowResult.groups key naming the rating of an MME or POPE row (HallusionBench rows have none)
)
# MME_rating's two sums, in the order it adds their categories
MME_SUPER_CATEGORIES = {
    "perception": (
        "OCR", "artwork", "celebrity", "color", "count", "existence", "landmark", "position", "posters", "scene",
    ),
    "reasoning": ("code_reasoning", "commonsense_reasoning", "numerical_calculation", "text_translation"),
}  # fmt: skip
MME_POINTS = 2800  # 14 categories x (acc + acc+), each at most 100
# the report's scale is 0-100: MME's sum / 28 (as OCRBench's 0-1000 score / 10); the sums stay in ``native``
MME_UNIT = "percent of MME's 2800 points: (perception sum + reasoning sum) / 28; a category: (acc + acc+) / 2"
POPE_UNIT = "percent (F1 x 100 over all splits' rows, as the reference's Overall)"


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
    BenchmarkCard(
        name="MME",
        url=f"{OPENXLAB}/VLMEval/MME.tsv",
        md5="b36b43c3f09801f5d368627fb92187c3",
        task_type="Y/N",
        family="yorn",
        required_columns=("index", "question", "image", "answer", "category", "image_path"),
        description="MME: two yes/no questions per image; perception and reasoning sums of acc + acc+.",
        prompt=PromptStyle(mpo_postprocess=True),
        scoring=MME_SCORING,
    ),
    BenchmarkCard(
        name="POPE",
        url=f"{OPENXLAB}/VLMEval/POPE.tsv",
        md5="c12f5acb142f2ef1f85a26ba2fbe41d5",
        task_type="Y/N",
        family="yorn",
        required_columns=("index", "question", "image", "answer", "category"),
        description="POPE object hallucination (adversarial, popular, random): F1 and accuracy per split.",
        # the wrapper asks POPE's question as is (no yes/no or short-answer instruction)
        prompt=PromptStyle(yorn_short_answer=False, mpo_postprocess=True),
        scoring=POPE_SCORING,
    ),
)


class YesNoFamily(BenchmarkFamily):
    name = "yorn"
    listing_order = 30
    judge_role = JudgeRole.CHOICE
    scale = "mean(aAcc, fAcc, qAcc)"
    headline_name = "mean(aAcc, fAcc, qAcc) of Overall"
    headline_unit = "percent (the leaderboard's figure; the reference's table has aAcc, fAcc, qAcc)"
    required_columns = ("index", "prediction", "answer")

    # Hallusion_rating's Overall line, as the leaderboard reports it: the mean of aAcc (rows), fAcc
    # (figure groups) and qAcc (question groups, the rows' units)
    metric = MeanOfSubMetrics(
        parts=(
            ("aAcc", ShareRight(over=ROW)),
            ("fAcc", ShareRight(over=FIGURE)),
            ("qAcc", ShareRight(over=UNIT)),
        )
    )

    def metric_of(self, card: BenchmarkCard) -> Metric:
        """HallusionBench: the mean of three accuracies (``metric``); MME and POPE: their own rules."""
        if card.scoring == MME_SCORING:
            # MME_rating adds per-category values: resampled within categories, so none goes missing
            return OwnRule("MME_rating", strata=CATEGORY)
        if card.scoring == POPE_SCORING:
            return OwnRule("POPE_rating")
        return self.metric

    def scale_of(self, card: BenchmarkCard) -> str:
        """HallusionBench's mean of three accuracies; MME's 2800-point sum / 28; POPE's F1."""
        if card.scoring == MME_SCORING:
            return "(perception + reasoning sum) / 28 (0-100)"
        if card.scoring == POPE_SCORING:
            return "F1 x 100"
        return self.scale

    def question_keys(self, table: pd.DataFrame, card: BenchmarkCard, protocol: Protocol) -> list[str]:
        """A question set (``<l2-category>_<set_id>``) holds the paired questions and figures that
        qAcc and fAcc score together (the units of ``score``): one question for ``--limit``. MME: the
        image (its two questions make acc+); POPE: the row."""
        if card.scoring == MME_SCORING:
            return _mme_units(table)
        if card.scoring == POPE_SCORING:
            return super().question_keys(table, card, protocol)
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
        if card.scoring == MME_SCORING:
            return _score_mme(data, extracted, _notes(data, extracted))
        if card.scoring == POPE_SCORING:
            return _score_pope(data, extracted, _notes(data, extracted))
        if "l2-category" not in data.columns:
            raise DataCorruptError(f"{card.name}: the prediction table has no 'l2-category' column.")
        rating = hallusion_rating(data)
        overall = rating.iloc[0]
        notes = _notes(data, extracted)
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

    def aggregate(self, rows: Sequence[RowResult]) -> dict[str, float]:
        """aAcc over rows, fAcc over figure groups, qAcc over question groups (the units). MME: the
        perception and reasoning sums (``mme_scores``); POPE: F1 etc. over the rows counted once per
        split (``pope_line``)."""
        if not rows:
            return {HEADLINE: float("nan")}
        rating = _rating(rows)
        if rating == MME_SCORING:
            return _mme_aggregate(rows)
        if rating == POPE_SCORING:
            line = pope_line(*_pope_counts(rows, [_split_weight(row) for row in rows]))
            return {HEADLINE: line["Overall"], "acc": line["acc"], "precision": line["precision"],
                    "recall": line["recall"]}  # fmt: skip
        return self.metric.values(rows)  # HallusionBench: the mean of aAcc, fAcc and qAcc

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """``aggregate`` as sums: (row right, 1) per row for aAcc, (group right, 1) on the first row of
        each figure group (fAcc) and question group (qAcc); the headline is their mean. MME: per
        category (row right, row) and, on each image's first row, (pair right, pair); POPE: the
        confusion counts and hits, each row weighted by its number of splits."""
        rows = list(rows)
        rating = _rating(rows) if rows else ""
        if rating == MME_SCORING:
            return _mme_sums(rows)
        if rating == POPE_SCORING:
            return _pope_sums(rows, np.asarray([_split_weight(row) for row in rows], dtype=float))
        return self.metric.row_sums(rows)  # HallusionBench: the mean of aAcc, fAcc and qAcc

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """``hallusion_rating``'s lines: each ``category`` value, then each ``l2-category`` value (a
        later line of the same name wins, as in ``_mean3_by_split``). The l2-category is the first part
        of the row's unit ``<l2-category>_<set_id>_<question_id>`` (the ids come from splitting the index
        on '_', so they hold none)."""
        if rows and _rating(rows) == POPE_SCORING:
            return {split: [row for row in rows if split in _splits(row)] for split in _pope_splits(rows)}
        if rows and _rating(rows) == MME_SCORING:
            return super().category_rows(rows)
        by_category: dict[str, list[RowResult]] = {}
        by_l2: dict[str, list[RowResult]] = {}
        for row in rows:
            if row.category is not None:
                by_category.setdefault(row.category, []).append(row)
            by_l2.setdefault(row.unit.rsplit("_", 2)[0], []).append(row)
        return {**by_category, **by_l2}

    def category_value(self, rows: Sequence[RowResult], protocol: Protocol) -> float | None:
        """POPE: a split's F1 counts each of its rows once (the headline counts a row once per split)."""
        if rows and _rating(rows) == POPE_SCORING:
            return number(pope_line(*_pope_counts(rows, [1] * len(rows)))["Overall"])
        if rows and _rating(rows) == MME_SCORING:
            return _mme_category_value(rows)
        return super().category_value(rows, protocol)

    def category_sums(self, rows: Sequence[RowResult], protocol: Protocol) -> dict[str, RowSums]:
        if rows and _rating(rows) == POPE_SCORING:
            return {
                split: _pope_sums(rows, np.asarray([float(split in _splits(row)) for row in rows]))[HEADLINE]
                for split in _pope_splits(rows)
            }
        if rows and _rating(rows) == MME_SCORING:
            return _mme_category_sums(list(rows))
        return super().category_sums(rows, protocol)

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_score.csv")
        mme = _read_mme_reference(self, stem, path, judge_model)
        if mme is not None:
            return mme
        rows = read_csv_rows(path, "split")
        if rows and "Overall" in rows and "precision" in rows["Overall"].index:
            line = rows["Overall"]
            return reference_record(
                self,
                stem,
                path,
                headline=number(line["Overall"]),
                headline_name="Overall F1",
                native={
                    k: v
                    for k in ("Overall", "acc", "precision", "recall")
                    if (v := number(line[k])) is not None
                },
                categories={
                    s: v
                    for s, r in rows.items()
                    if s != "Overall" and (v := number(r["Overall"])) is not None
                },
                judge_model=judge_model,
                headline_unit=POPE_UNIT,
            )
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


_MME_CATEGORIES = tuple(c for members in MME_SUPER_CATEGORIES.values() for c in members)  # all 14 from n = 14


def _synthetic_mme(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` images, two questions each (one 'Yes', one 'No'), the second naming the first's image by
    index, as the real file does; image_path '<category>/<n>.jpg' pairs them for acc+."""
    rows = []
    for i in range(n):
        category = _MME_CATEGORIES[i % len(_MME_CATEGORIES)]
        image, drawn = shape_image(rng, i, count=1)
        colour = drawn[0][0]
        other = rng.choice([c for c in COLOURS if c != colour])
        for k, (asked, answer) in enumerate(((colour, "Yes"), (other, "No"))):
            rows.append(
                {
                    "index": 2 * i + k,
                    "category": category,
                    "image_path": f"{category}/{i}.jpg",
                    "question": f"Is there a {asked} shape in the image? Please answer yes or no.",
                    "answer": answer,
                    "image": image if k == 0 else str(2 * i),
                }
            )
    return rows


_POPE_SPLITS = ("adversarial", "popular", "random", "adversarial,popular", "popular,random,adversarial")


def _synthetic_pope(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """POPE rows: object-existence questions; some rows are listed under several splits at once."""
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        present = drawn[0][1]
        asked = (
            present
            if i % 2 == 0
            else rng.choice([s for s in ("circle", "square", "triangle") if s != present])
        )
        rows.append(
            {
                "index": i,
                "question": f"Is there a {asked} in the image?",
                "answer": "Yes" if asked == present else "No",
                "category": _POPE_SPLITS[i % len(_POPE_SPLITS)],
                "image": image,
            }
        )
    return rows


# a card of this family without a builder here is refused, rather than given another benchmark's rows
SYNTHETIC: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {
    "HallusionBench": _synthetic_rows,
    "MME": _synthetic_mme,
    "POPE": _synthetic_pope,
}


def _positions_by_group(names: Sequence[str]) -> dict[str, list[int]]:
    """Group name -> its rows' positions, groups in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    return groups


# --------------------------------------------------------------------------------------------------
# MME: MME_rating
# --------------------------------------------------------------------------------------------------
def _notes(data: pd.DataFrame, extracted: list[tuple[str, str]]) -> list[str]:
    no_judge = sum(1 for _, how in extracted if how == "no_judge")
    notes = []
    if no_judge:
        notes.append(
            f"{no_judge} row(s) were neither yes nor no and had no judge: counted as 'Unknown' (wrong)."
        )
    unknown = int((data["extracted"] == "Unknown").sum())
    if unknown > no_judge:
        notes.append(f"{unknown} row(s) in all read as neither yes nor no ('Unknown', counted wrong).")
    return notes


def _rating(rows: Sequence[RowResult]) -> str:
    return rows[0].groups.get(RATING, "")


def _mme_units(table: pd.DataFrame) -> list[str]:
    """An MME image is a unit: its two questions make one acc+ pair (per category, as MME_rating keys them)."""
    for column in ("category", "image_path"):
        if column not in table.columns:
            raise DataCorruptError(
                f"MME: the table has no {column!r} column (acc+ pairs questions by image)."
            )
    return [f"{c}/{p}" for c, p in zip(table["category"], table["image_path"], strict=True)]


def mme_scores(categories: Sequence[str], units: Sequence[str], hits: Sequence[bool]) -> dict[str, float]:
    """MME_rating on rows in file order: per category acc (share of right rows) + acc+ (share of
    images whose first two questions are both right), x100 each; 'perception' and 'reasoning' add
    their categories' values in MME_rating's order. Differences: a category absent from the rows
    adds nothing (the reference raises KeyError); an image with one question counts that one."""
    by_image: dict[str, dict[str, list[bool]]] = defaultdict(dict)
    for category, unit, hit in zip(categories, units, hits, strict=True):
        by_image[category].setdefault(unit, []).append(bool(hit))
    scores: dict[str, float] = {}
    for category, images in by_image.items():
        flat = [hit for answers in images.values() for hit in answers]
        plus = [all(answers[:2]) for answers in images.values()]
        scores[category] = float(np.mean(flat) * 100) + float(np.mean(plus) * 100)
    out: dict[str, float] = {}
    for name, members in MME_SUPER_CATEGORIES.items():
        total = 0.0
        for category in members:
            if category in scores:
                total += scores[category]
        out[name] = total
    out.update(scores)
    return out


def _mme_aggregate(rows: Sequence[RowResult]) -> dict[str, float]:
    scores = mme_scores([row.category or "" for row in rows], [row.unit for row in rows],
                        [row.score == 1 for row in rows])  # fmt: skip
    return {
        HEADLINE: (scores["perception"] + scores["reasoning"]) / (MME_POINTS / 100),
        "perception": scores["perception"],
        "reasoning": scores["reasoning"],
    }


def _mme_category_value(rows: Sequence[RowResult]) -> float | None:
    """One category's reported value: its acc + acc+ halved (percent)."""
    scores = mme_scores([row.category or "" for row in rows], [row.unit for row in rows],
                        [row.score == 1 for row in rows])  # fmt: skip
    own = [v for k, v in scores.items() if k not in MME_SUPER_CATEGORIES]
    return own[0] / 2 if len(own) == 1 else None


def _mme_sums(rows: list[RowResult]) -> dict[str, RowSums]:
    """MME as sums: per category four columns (row right, row, pair right, pair), the pair's on its
    image's first row; a category a resample lacks adds nothing (as ``mme_scores``)."""
    categories = sorted({row.category or "" for row in rows})
    columns = np.zeros((len(rows), 4 * len(categories)))
    best = np.zeros_like(columns)
    units = list(_positions_by_group([row.unit for row in rows]).values())
    for members in units:
        k = 4 * categories.index(rows[members[0]].category or "")
        for i in members:
            columns[i, k : k + 2] = (float(rows[i].score == 1), 1.0)
            best[i, k : k + 2] = (1.0, 1.0)
        columns[members[0], k + 2 : k + 4] = (float(all(rows[i].score == 1 for i in members[:2])), 1.0)
        best[members[0], k + 2 : k + 4] = (1.0, 1.0)

    def category_values(sums: np.ndarray) -> dict[str, np.ndarray]:
        return {
            c: ratio(sums[:, 4 * k], sums[:, 4 * k + 1]) * 100
            + ratio(sums[:, 4 * k + 2], sums[:, 4 * k + 3]) * 100
            for k, c in enumerate(categories)
        }

    def super_sum(name: str) -> Callable[[np.ndarray], np.ndarray]:
        def combine(sums: np.ndarray) -> np.ndarray:
            values = category_values(sums)
            total = np.zeros(len(sums))
            for category in MME_SUPER_CATEGORIES[name]:
                if category in values:
                    total = np.where(np.isnan(values[category]), total, total + values[category])
            return total

        return combine

    perception, reasoning = super_sum("perception"), super_sum("reasoning")
    return {
        HEADLINE: RowSums(columns, lambda s: (perception(s) + reasoning(s)) / (MME_POINTS / 100), best),
        "perception": RowSums(columns, perception, best),
        "reasoning": RowSums(columns, reasoning, best),
    }


def _mme_category_sums(rows: list[RowResult]) -> dict[str, RowSums]:
    """Each category's (acc + acc+) / 2 as sums over all rows (zero outside the category)."""
    sums = _mme_sums(rows)[HEADLINE]
    categories = sorted({row.category or "" for row in rows})

    def halved(k: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda s: (
            (ratio(s[:, 4 * k], s[:, 4 * k + 1]) * 100 + ratio(s[:, 4 * k + 2], s[:, 4 * k + 3]) * 100) / 2
        )

    return {c: RowSums(sums.columns, halved(k), sums.best) for k, c in enumerate(categories)}


def _score_mme(data: pd.DataFrame, extracted: list[tuple[str, str]], notes: list[str]) -> Scored:
    units = _mme_units(data)
    scores = mme_scores([str(c) for c in data["category"]], units, list(data["score"]))
    missing = [c for members in MME_SUPER_CATEGORIES.values() for c in members if c not in scores]
    if missing:
        notes.append(
            f"MME categories without rows: {', '.join(missing)} (they add nothing to the sums; the reference "
            f"refuses such a subset)."
        )
    rows = [
        RowResult(
            index=plain_index(record["index"]),
            unit=unit,
            score=float(bool(record["score"])),
            decided_by=HOW_DECIDED[how],
            extracted=record["extracted"],
            answer=record["answer"],
            prediction=record["prediction"],
            groups={RATING: MME_SCORING},
            category=str(record["category"]),
        )
        for record, unit, (_, how) in zip(data.to_dict(orient="records"), units, extracted, strict=True)
    ]
    table = pd.DataFrame({k: [v] for k, v in scores.items()})
    sums = {k: scores[k] for k in MME_SUPER_CATEGORIES}
    return Scored(
        outputs=[ReferenceOutput("_auxmatch.xlsx", data), ReferenceOutput("_score.csv", table)],
        rows=rows,
        headline=(sums["perception"] + sums["reasoning"]) / (MME_POINTS / 100),
        headline_name="MME sum / 28",
        tables={"score": table},
        native=sums,
        metrics=sums,
        categories={k: v / 2 for k, v in scores.items() if k not in MME_SUPER_CATEGORIES},
        notes=notes,
        headline_unit=MME_UNIT,
    )


def _read_mme_reference(
    family: BenchmarkFamily, stem: Path, path: Path, judge_model: str | None
) -> ScoreRecord | None:
    """MME's one-line ``_score.csv`` (columns perception, reasoning, then each category)."""
    try:
        table = pd.read_csv(path) if path.is_file() else None
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if table is None or table.empty or not set(MME_SUPER_CATEGORIES) <= set(table.columns):
        return None
    line = table.iloc[0]
    sums = {k: number(line[k]) for k in MME_SUPER_CATEGORIES}
    known = {k: v for k, v in sums.items() if v is not None}
    return reference_record(
        family,
        stem,
        path,
        headline=(known["perception"] + known["reasoning"]) / (MME_POINTS / 100) if len(known) == 2 else None,
        headline_name="MME sum / 28",
        native=known,
        categories={
            str(c): v / 2
            for c in table.columns
            if c not in MME_SUPER_CATEGORIES and (v := number(line[c])) is not None
        },
        judge_model=judge_model,
        headline_unit=MME_UNIT,
    )


# --------------------------------------------------------------------------------------------------
# POPE: POPE_rating
# --------------------------------------------------------------------------------------------------
def _splits(row: RowResult) -> list[str]:
    text = row.groups.get("splits", "")
    return [s for s in text.split(",")] if text else []


def _split_weight(row: RowResult) -> int:
    """How many times POPE_rating's Overall counts a row: once per split its category lists (the
    reference explodes 'adversarial,popular' into two rows), once if it has none."""
    return max(1, len(_splits(row)))


def _pope_splits(rows: Sequence[RowResult]) -> list[str]:
    return sorted({split for row in rows for split in _splits(row)})


def _pope_counts(
    rows: Sequence[RowResult], weights: Sequence[float]
) -> tuple[float, float, float, float, float]:
    """(tp, fp, fn, right, counted) with each row counted ``weight`` times; a prediction is 'Yes' only
    when the extracted answer is (an 'Unknown' counts as No)."""
    tp = fp = fn = right = counted = 0.0
    for row, w in zip(rows, weights, strict=True):
        truth, said = str(row.answer) == "Yes", str(row.extracted) == "Yes"
        tp += w * (truth and said)
        fp += w * (not truth and said)
        fn += w * (truth and not said)
        right += w * (row.score == 1)
        counted += w
    return tp, fp, fn, right, counted


def pope_line(tp: float, fp: float, fn: float, right: float, counted: float) -> dict[str, float]:
    """One line of POPE_rating's table from the counts: Overall (= F1), acc, precision, recall, x100."""
    precision = tp / (tp + fp) if (tp + fp) != 0 else 0
    recall = tp / (tp + fn) if (tp + fn) != 0 else 0
    f1 = 2 * (precision * recall) / (precision + recall) if (precision + recall) != 0 else 0
    acc = right / counted if counted else float("nan")
    return {"Overall": f1 * 100, "acc": acc * 100, "precision": precision * 100, "recall": recall * 100}


def _pope_sums(rows: Sequence[RowResult], weights: np.ndarray) -> dict[str, RowSums]:
    """POPE's F1 (headline), precision and recall as sums of (tp, fp, fn) columns and its accuracy as
    a share of right rows, each row weighted (``pope_line``'s operations, row by row)."""
    truth = np.asarray([str(row.answer) == "Yes" for row in rows], dtype=float)
    said = np.asarray([str(row.extracted) == "Yes" for row in rows], dtype=float)
    columns = np.column_stack([truth * said, (1 - truth) * said, truth * (1 - said)]) * weights[:, None]
    best = np.column_stack([truth, np.zeros(len(rows)), np.zeros(len(rows))]) * weights[:, None]

    def precision(sums: np.ndarray) -> np.ndarray:
        tp, fp = sums[:, 0], sums[:, 1]
        return np.where(tp + fp != 0, ratio(tp, tp + fp), 0.0)

    def recall(sums: np.ndarray) -> np.ndarray:
        tp, fn = sums[:, 0], sums[:, 2]
        return np.where(tp + fn != 0, ratio(tp, tp + fn), 0.0)

    def f1(sums: np.ndarray) -> np.ndarray:
        p, r = precision(sums), recall(sums)
        return np.where(p + r != 0, ratio(2 * (p * r), p + r), 0.0) * 100

    right = np.asarray([float(row.score == 1) for row in rows])
    return {
        HEADLINE: RowSums(columns, f1, best),
        "precision": RowSums(columns, lambda s: precision(s) * 100, best),
        "recall": RowSums(columns, lambda s: recall(s) * 100, best),
        "acc": share(right * weights, weights),
    }


def pope_rating(data: pd.DataFrame) -> pd.DataFrame:
    """POPE_rating: the Overall line over the rows counted once per listed split, then one line per
    split (sorted; the reference's order comes from a set)."""
    splits = [_split_list(c) for c in data["category"]]
    records = [
        RowResult(index=0, unit="", score=float(bool(hit)), decided_by="rule", extracted=e, answer=a)
        for hit, e, a in zip(data["score"], data["extracted"], data["answer"], strict=True)
    ]
    lines = [{"split": "Overall", **pope_line(*_pope_counts(records, [max(1, len(s)) for s in splits]))}]
    for split in sorted({s for listed in splits for s in listed}):
        lines.append(
            {"split": split, **pope_line(*_pope_counts(records, [float(split in s) for s in splits]))}
        )
    return pd.DataFrame(lines, columns=["split", "Overall", "acc", "precision", "recall"])


def _split_list(category: Any) -> list[str]:
    return [] if isna(category) else str(category).split(",")


def _score_pope(data: pd.DataFrame, extracted: list[tuple[str, str]], notes: list[str]) -> Scored:
    rating = pope_rating(data)
    overall = rating.iloc[0]
    rows = [
        RowResult(
            index=plain_index(record["index"]),
            unit=str(record["index"]),
            score=float(bool(record["score"])),
            decided_by=HOW_DECIDED[how],
            extracted=record["extracted"],
            answer=record["answer"],
            prediction=record["prediction"],
            groups={RATING: POPE_SCORING, "splits": ",".join(_split_list(record.get("category")))},
            category=None if isna(record.get("category")) else str(record["category"]),
        )
        for record, (_, how) in zip(data.to_dict(orient="records"), extracted, strict=True)
    ]
    native = {k: float(overall[k]) for k in ("Overall", "acc", "precision", "recall")}
    return Scored(
        outputs=[ReferenceOutput("_auxmatch.xlsx", data), ReferenceOutput("_score.csv", rating)],
        rows=rows,
        headline=native["Overall"],
        headline_name="Overall F1",
        tables={"score": rating},
        native=native,
        metrics=native,
        categories={str(line["split"]): float(line["Overall"]) for _, line in rating.iloc[1:].iterrows()},
        notes=notes,
        headline_unit=POPE_UNIT,
    )
