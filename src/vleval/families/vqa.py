"""Open-ended VQA scored by rule: ChartQA (relaxed accuracy), TextVQA (VQA accuracy over the annotators'
answers), DocVQA and InfoVQA (ANLS).

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/image_vqa.py::ImageVQADataset`` (``evaluate`` at
b13a37db, ``evaluate_heuristic`` at e8e78f05) and ``vlmeval/dataset/utils/vqa_eval.py``
(``process_line``, ``hit_calculate``, ``relaxed_correctness``, ``anls_compute``, ``process_answer``,
``_process_digit_article``) with ``vlmeval/smp/misc.py::process_punctuation``. The reference picks the
metric by dataset-name substrings; here each card states it (``VQACard.metric``). Differences between
the pinned commits are protocol quirks: ``CHARTQA_RELAXED_ARGS_SWAPPED`` (2024.12) and the
punctuation quirks the Y/N family shares (``PUNCT_PERIOD_AFTER_DIGIT_STRIPPED``,
``YORN_PERIOD_LIMIT_32``).

Per row the reference computes a list ``match`` (one value per gold answer) and a row score ``hit``:

- VQA accuracy: the prediction and each gold answer normalised (``normalise_answer``); for each gold
  answer, min(1, (how many of the *other* gold answers equal the prediction) / 3); the row scores the
  mean over the gold answers (the official VQA formula, averaged over leave-one-out subsets).
- ANLS: the normalised Levenshtein distance to each gold answer (divided by the longer *raw* text's
  length); the row scores 1 - the smallest distance, or 0 when that is below 0.5.
- relaxed accuracy: right when a number within 5 % of a gold answer (percent signs read as /100), or
  the same text ignoring case; the row scores 1 when any gold answer is matched.

The headline ('Overall') and each split (or, without a ``split`` column, each category) is the mean
row score x 100. Result files: ``<stem>_acc.csv`` (one row: the splits, then Overall; or Overall, then
the categories in sorted order) and ``<stem>_results.xlsx`` (the prediction table with
``eval_gt``/``eval_pred``/``eval_match``/``eval_score``), which e8e78f05 writes and b13a37db does not
(vleval writes it under every protocol; it holds no number the acc table lacks). The reference lists
the splits in ``set`` order, which changes from run to run with Python's string hashing; vleval sorts
them.
"""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.matching import process_punctuation
from vleval.errors import DataCorruptError
from vleval.families.base import (
    HEADLINE,
    OPENXLAB,
    BenchmarkFamily,
    ReferenceOutput,
    Scored,
    number,
    plain_index,
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.core import RowSums
from vleval.stats.metrics import MeanGrade
from vleval.types import BenchmarkCard, Judge, PromptStyle, RowResult, ScoreRecord

ANLS_THRESHOLD = 0.5  # hit_calculate's anls_threshold
RELAXED_TOLERANCE = 0.05  # relaxed_correctness' max_relative_change
MAX_ANSWER_CHARS = 100_000  # an answer cell longer than this is not a benchmark's answer list


class VQAMetric(StrEnum):
    VQA_SCORE = "vqa_score"  # TextVQA
    RELAXED_ACCURACY = "relaxed_accuracy"  # ChartQA
    ANLS = "anls"  # DocVQA, InfoVQA


@dataclass(frozen=True)
class VQACard(BenchmarkCard):
    """A card of this family: a benchmark card plus the metric the reference scores it with."""

    metric: VQAMetric = VQAMetric.VQA_SCORE


_VQA_COLUMNS = ("index", "question", "image", "answer")
_SHORT = PromptStyle(vqa="short")  # the InternVL wrapper's single-word-or-phrase instruction, no CoT text

# The reference registers these in ImageVQADataset.DATASET_URL / DATASET_MD5 with the same URL and md5
# at b13a37db and e8e78f05. Tile budgets: VK vlmeval/vlm/internvl/internvl_chat.py::set_max_num
# (res_12_datasets: ChartQA_TEST; res_18: DocVQA_VAL; res_24: InfoVQA_VAL; others 6), the same at both
# commits; prompts: build_prompt's VQA branch (question + "\nAnswer the question using a single word or
# phrase.", unchanged under CoT; -MPO models use the MPO prompt only under CoT).
CARDS: tuple[VQACard, ...] = (
    VQACard(
        name="ChartQA_TEST",
        url=f"{OPENXLAB}/VLMEval/ChartQA_TEST.tsv",
        md5="c902e0aa9be5582a7aad6dcf52734b42",
        task_type="VQA",
        family="vqa",
        max_tiles=12,
        required_columns=_VQA_COLUMNS,
        description="ChartQA test (human + augmented): relaxed accuracy (5 % tolerance on numbers).",
        prompt=_SHORT,
        metric=VQAMetric.RELAXED_ACCURACY,
    ),
    VQACard(
        name="TextVQA_VAL",
        url=f"{OPENXLAB}/VLMEval/TextVQA_VAL.tsv",
        md5="b233b31f551bbf4056f2f955da3a92cd",
        task_type="VQA",
        family="vqa",
        max_tiles=6,
        required_columns=_VQA_COLUMNS,
        description="TextVQA val: VQA accuracy over the 10 annotators' answers.",
        prompt=_SHORT,
        metric=VQAMetric.VQA_SCORE,
    ),
    VQACard(
        name="DocVQA_VAL",
        url=f"{OPENXLAB}/VLMEval/DocVQA_VAL.tsv",
        md5="d5ee77e1926ff10690d469c56b73eabf",
        task_type="VQA",
        family="vqa",
        max_tiles=18,
        required_columns=_VQA_COLUMNS,
        description="DocVQA val: ANLS (threshold 0.5).",
        prompt=_SHORT,
        metric=VQAMetric.ANLS,
    ),
    VQACard(
        name="InfoVQA_VAL",
        url=f"{OPENXLAB}/VLMEval/InfoVQA_VAL.tsv",
        md5="2342e9c225222f0ef4dec545ebb126fe",
        task_type="VQA",
        family="vqa",
        max_tiles=24,
        required_columns=_VQA_COLUMNS,
        description="InfoVQA val: ANLS (threshold 0.5).",
        prompt=_SHORT,
        metric=VQAMetric.ANLS,
    ),
)


# --------------------------------------------------------------------------------------------------
# gold answers
# --------------------------------------------------------------------------------------------------
def gold_answers(value: Any, index: Any, card: BenchmarkCard) -> list[str]:
    """The gold answers of a row: a cell holding a Python list literal is the list (the reference
    ``eval``s it when it evaluates to a list; vleval reads literals only), any other text is the one
    answer (the reference's ``str(x)``). Non-text elements are refused where the reference's metric
    would fail on them; a cell that opens a list of strings but does not parse is refused."""
    text = str(value)
    if len(text) > MAX_ANSWER_CHARS:
        raise DataCorruptError(
            f"{card.name}: row {index}: the 'answer' cell has {len(text):,} characters (more than "
            f"{MAX_ANSWER_CHARS:,}); check the benchmark file."
        )
    stripped = text.strip()
    if not stripped.startswith("["):
        return [text]
    try:
        parsed = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if stripped[1:2] in ("'", '"'):
            raise DataCorruptError(
                f"{card.name}: row {index}: 'answer' starts a list of answers but is not a Python list "
                f"literal: {text[:80]!r}; restore the benchmark file's cell."
            ) from None
        return [text]
    if not isinstance(parsed, list):
        return [text]
    if not parsed:
        raise DataCorruptError(
            f"{card.name}: row {index}: 'answer' is an empty list; a row needs a gold answer."
        )
    numeric_ok = isinstance(card, VQACard) and card.metric is VQAMetric.RELAXED_ACCURACY
    answers = []
    for item in parsed:
        if isinstance(item, str):
            answers.append(item)
        elif numeric_ok and isinstance(item, int | float) and not isinstance(item, bool):
            answers.append(str(item))  # relaxed_correctness str()s its arguments
        else:
            raise DataCorruptError(
                f"{card.name}: row {index}: 'answer' should be a list of strings, got an element {item!r}."
            )
    return answers


# --------------------------------------------------------------------------------------------------
# VQA answer normalisation (vqa_eval.py::process_answer, from the official VQA evaluation)
# --------------------------------------------------------------------------------------------------
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
# the official VQA evaluation's contraction table as the reference holds it: key -> replacement, applied
# to whole words after lower-casing (so its few keys with capitals, e.g. "Im", never apply)
_CONTRACTIONS = dict(
    pair.split("=")
    for pair in (
        "aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've "
        "couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've "
        "hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's "
        "howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd "
        "itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't "
        "mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've "
        "neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at "
        "'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've "
        "shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd "
        "somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll somebodys=somebody's "
        "someoned=someone'd someoned've=someone'd've someone'dve=someone'd've someonell=someone'll "
        "someones=someone's somethingd=something'd somethingd've=something'd've "
        "something'dve=something'd've somethingll=something'll thats=that's thered=there'd "
        "thered've=there'd've there'dve=there'd've therere=there're theres=there's theyd=they'd "
        "theyd've=they'd've they'dve=they'd've theyll=they'll theyre=they're theyve=they've twas='twas "
        "wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've werent=weren't whatll=what'll "
        "whatre=what're whats=what's whatve=what've whens=when's whered=where'd wheres=where's "
        "whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's "
        "whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't "
        "wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll "
        "yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've "
        "you'dve=you'd've youll=you'll youre=you're youve=you've"
    ).split()
)


def _digits_and_articles(text: str) -> str:
    """Lower-cased words, number words as digits, articles dropped, contractions restored."""
    words = [_NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES)


def normalise_answer(text: str, protocol: Protocol) -> str:
    """vqa_eval.py::process_answer: tabs and newlines as spaces, stripped, punctuation as
    ``process_punctuation`` handles it under ``protocol``, then digits and articles."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _digits_and_articles(process_punctuation(text, protocol))


# --------------------------------------------------------------------------------------------------
# the three metrics, one row at a time
# --------------------------------------------------------------------------------------------------
def vqa_matches(
    prediction: str, answers: Sequence[str], protocol: Protocol
) -> tuple[list[str], str, list[float]]:
    """(normalised gold answers, normalised prediction, per gold answer min(1, others equal / 3))."""
    gold = [normalise_answer(a, protocol) for a in answers]
    pred = normalise_answer(prediction, protocol)
    matches = []
    for i in range(len(gold)):
        agreeing = sum(1 for j, other in enumerate(gold) if j != i and other == pred)
        matches.append(min(1, float(agreeing) / 3))
    return gold, pred, matches


def levenshtein(a: str, b: str) -> int:
    if len(a) > len(b):
        a, b = b, a
    previous = list(range(len(a) + 1))
    for i, cb in enumerate(b):
        current = [i + 1]
        for j, ca in enumerate(a):
            current.append(previous[j] if ca == cb else 1 + min(previous[j], previous[j + 1], current[-1]))
        previous = current
    return previous[-1]


def anls_distance(gold: str, prediction: str) -> float:
    """vqa_eval.py::anls_compute: the Levenshtein distance of the lower-cased, whitespace-collapsed
    texts over the longer *raw* text's length (``len(s.upper())``, as the reference measures it)."""
    g = " ".join(gold.strip().lower().split())
    p = " ".join(prediction.strip().lower().split())
    length = max(len(gold.upper()), len(prediction.upper()))
    return 0.0 if length == 0 else float(levenshtein(g, p)) / float(length)


def _relaxed_number(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correct(target: str, prediction: str) -> bool:
    """pix2struct's relaxed correctness (as vqa_eval.py::relaxed_correctness): numbers within 5 % of
    the target (relative to the target, which must be a non-zero number), else equal text ignoring case."""
    prediction_float, target_float = _relaxed_number(prediction), _relaxed_number(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= RELAXED_TOLERANCE
    return prediction.lower() == target.lower()


@dataclass(frozen=True)
class RowScore:
    """One row as the reference's process_line + hit_calculate see it."""

    gold: list[str]  # eval_gt
    pred: str  # eval_pred
    match: list[float]  # eval_match (bools for relaxed accuracy, as the reference keeps them)
    hit: float  # the row's score (hit_calculate)


def score_row(metric: VQAMetric, prediction: str, answers: list[str], protocol: Protocol) -> RowScore:
    if metric is VQAMetric.VQA_SCORE:
        gold, pred, matches = vqa_matches(prediction, answers, protocol)
        return RowScore(gold, pred, matches, float(np.mean(matches)))
    if metric is VQAMetric.ANLS:
        distances = [anls_distance(a, prediction) for a in answers]
        best = 1 - np.min(distances)
        return RowScore(list(answers), prediction, distances, 0.0 if best < ANLS_THRESHOLD else float(best))
    pred = prediction.strip()
    if protocol.has(Quirk.CHARTQA_RELAXED_ARGS_SWAPPED):
        hits = [relaxed_correct(pred, a) for a in answers]  # b13a37db: the prediction as the target
    else:
        hits = [relaxed_correct(a, pred) for a in answers]
    return RowScore(list(answers), pred, hits, float(np.max(hits)))


def _metric_of(card: BenchmarkCard) -> VQAMetric:
    if not isinstance(card, VQACard):
        from vleval.errors import VlevalError

        raise VlevalError(f"{card.name}: not a card of the VQA family (no metric).")
    return card.metric


def _group_column(data: pd.DataFrame) -> str | None:
    """The reference reports per split when the file has a ``split`` column, else per category."""
    return "split" if "split" in data.columns else "category" if "category" in data.columns else None


def _mean_x100(scores: Sequence[float]) -> float:
    return float(np.mean(scores) * 100) if len(scores) else math.nan


# image sizes of synthetic rows; a 1900x100 strip gets 7, 13, 19 and 20 tiles (with the thumbnail) under
# caps of 6, 12, 18 and 24, so each benchmark's cap shows in its tile counts
_SYNTHETIC_SIZES = ((320, 240), (600, 200), (200, 400), (1900, 100))


class VQAFamily(BenchmarkFamily):
    name = "vqa"
    listing_order = 45
    # rows carry a fractional score (VQA accuracy, ANLS; ChartQA's are 0/1): the headline is their mean
    metric = MeanGrade()
    # judge_role and judge_profile stay None (rule-based: no judge, an empty dry-run bill)
    headline_name = "Overall"
    headline_unit = (
        "percent: mean row score x 100 (ChartQA relaxed accuracy, TextVQA VQA accuracy, DocVQA/InfoVQA ANLS)"
    )
    required_columns = ("index", "prediction", "answer")

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        return ["_results.xlsx", "_acc.csv"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        metric = _metric_of(card)
        records = data.to_dict(orient="records")
        group = _group_column(data)
        scored: list[RowScore] = []
        rows: list[RowResult] = []
        for record in records:
            prediction = str(record["prediction"])
            answers = gold_answers(record["answer"], record["index"], card)
            result = score_row(metric, prediction, answers, protocol)
            scored.append(result)
            rows.append(
                RowResult(
                    index=plain_index(record["index"]),
                    unit=str(record["index"]),
                    score=result.hit,
                    decided_by="rule",
                    extracted=result.pred,
                    answer=str(record["answer"]),
                    prediction=prediction,
                    category=None if group is None else str(record[group]),
                )
            )
        hits = [r.hit for r in scored]
        overall = _mean_x100(hits)
        groups: dict[str, float] = {}
        if group is not None:
            for name in sorted({str(record[group]) for record in records}):
                groups[name] = _mean_x100(
                    [r.hit for r, row in zip(scored, rows, strict=True) if row.category == name]
                )
        # d2df(ret): one row; splits before Overall, categories after it (ImageVQADataset.evaluate)
        ordered = {**groups, "Overall": overall} if group == "split" else {"Overall": overall, **groups}
        acc = pd.DataFrame({key: [value] for key, value in ordered.items()})
        detail = data.copy()
        detail["prediction"] = [str(r["prediction"]) for r in records]
        detail["answer"] = [str(r["answer"]) for r in records]
        detail["eval_gt"] = [r.gold for r in scored]
        detail["eval_pred"] = [r.pred for r in scored]
        detail["eval_match"] = [r.match for r in scored]
        detail["eval_score"] = [float(np.mean(r.match)) for r in scored]
        return Scored(
            outputs=[ReferenceOutput("_results.xlsx", detail), ReferenceOutput("_acc.csv", acc)],
            rows=rows,
            headline=overall,
            headline_name=self.headline_name,
            tables={"acc": acc},
            native={"Overall": overall},
            metrics={"Overall": overall},
            categories=groups,
        )

    def aggregate(self, rows: Sequence[RowResult]) -> dict[str, float]:
        return {HEADLINE: _mean_x100([r.score for r in rows if r.score is not None])}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """``aggregate`` as sums: (row score, 1) per row, the mean x 100."""
        columns = np.asarray([[float(r.score or 0.0), float(r.score is not None)] for r in rows]).reshape(
            len(rows), 2
        )
        best = np.column_stack([columns[:, 1], columns[:, 1]]) if len(rows) else np.zeros((0, 2))

        def combine(sums: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return sums[:, 0] / sums[:, 1] * 100

        return {HEADLINE: RowSums(columns, combine, best)}

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_acc.csv")
        if not path.is_file():
            return None
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError):
            return None
        if "Overall" not in table.columns or len(table) != 1:
            return None
        values = {str(k): found for k, cell in table.iloc[0].items() if (found := number(cell)) is not None}
        headline = values.pop("Overall", None)
        if headline is None:
            return None
        return reference_record(
            self,
            stem,
            path,
            headline=headline,
            headline_name=self.headline_name,
            native={"Overall": headline},
            categories=values,
        )

    # ----------------------------------------------------------------------------------------------
    # synthetic data (vleval.synthetic.benchmarks registers these builders)
    # ----------------------------------------------------------------------------------------------
    def synthetic_rows(self, card: BenchmarkCard, rng: random.Random, n: int) -> list[dict[str, Any]]:
        """Rows in the reference's columns: ChartQA a bar chart and one answer per row with a
        ``split``; the others a rendered word or number and a list of gold answers (TextVQA: 10
        annotators, 7 agreeing)."""
        from vleval.synthetic.images import draw_bar_chart, draw_text, encode

        if card.name not in {known.name for known in CARDS}:  # a new card needs its own builder
            return super().synthetic_rows(card, rng, n)
        metric = _metric_of(card)
        rows: list[dict[str, Any]] = []
        for i in range(n):
            if metric is VQAMetric.RELAXED_ACCURACY:
                values = [rng.randint(1, 40) for _ in range(3 + i % 3)]
                image = encode(draw_bar_chart(values, _SYNTHETIC_SIZES[i % 4]), "PNG")
                question = "What is the value of the tallest bar?"
                answer: str = str(max(values))
                rows.append(
                    {
                        "index": i,
                        "image": image,
                        "question": question,
                        "answer": answer,
                        "split": ("human", "augmented")[i % 2],
                    }
                )
                continue
            word = rng.choice(("hello", "vision", "total", "invoice", "pixel", "2024", "12.5"))
            image = encode(draw_text(word, _SYNTHETIC_SIZES[i % 4], font_size=28), "JPEG")
            if metric is VQAMetric.VQA_SCORE:
                others = [w for w in ("sign", "text", "logo") if w != word]
                gold = [word] * 7 + [rng.choice(others) for _ in range(3)]
                rng.shuffle(gold)
                question = "What is written in the image?"
            else:
                gold = [word, word.upper()] if i % 2 == 0 else [word]
                question = "What is written in the document?"
            rows.append({"index": i, "image": image, "question": question, "answer": str(gold)})
        return rows

    def right_answer(self, card: BenchmarkCard, row: dict[str, Any]) -> str:
        """A prediction every metric of this family scores 1 on a synthetic row: the most common gold
        answer (TextVQA's synthetic lists hold it 7 times of 10)."""
        answers = gold_answers(row["answer"], row.get("index"), card)
        return max(answers, key=answers.count)


FAMILY = VQAFamily()
