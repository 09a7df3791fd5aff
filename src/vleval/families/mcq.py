"""Multiple-choice scoring: MMBench EN/CN (circular), MMStar, AI2D, MMMU (with MMMU_preproc), RealWorldQA,
ScienceQA, SEED-Bench, MMT-Bench (report_acc_MMT), BLINK (its own judge prompt).

Sources (open-compass/VLMEvalKit at b13a37db and e8e78f05): ``vlmeval/dataset/image_mcq.py``
(``ImageMCQDataset.evaluate`` / ``evaluate_heuristic``) and ``vlmeval/dataset/utils/multiple_choice.py``
(``extract_answer_from_item``, ``prefetch_circular_group``, ``eval_circular_group``,
``mcq_vanilla_eval``, ``mcq_circular_eval``, ``MMMU_preproc``, ``report_acc``, ``report_acc_MMT``,
``build_prompt_blink``). Differences:
matching rules (see ``matching.py``) and the default judge (hence the result file tag).

Deliberate, documented choices where the reference is not deterministic:
- after 3 failed judge calls the reference draws ``random.choice`` unseeded; vleval seeds one
  generator per row with ``f"{seed}:{index}"`` (the seed is recorded in ``_score.json``);
- ``report_acc`` orders splits as a Python ``set`` does; vleval sorts them.
"""

from __future__ import annotations

import dataclasses
import random
import re
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.cells import isna
from vleval.datasets.matching import can_infer, cn_string, is_failure_text
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
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.core import UNIT
from vleval.stats.metrics import ShareRight
from vleval.synthetic.rows import NAN, Row, colour_question, pad_options, shape_image, shared_or_new
from vleval.types import (
    FAILURE_PREFIX,
    BenchmarkCard,
    DecidedBy,
    Judge,
    JudgeProfile,
    PromptStyle,
    RowResult,
    ScoreRecord,
)

LETTERS = tuple(string.ascii_uppercase)
JUDGE_ROUNDS = 3
NO_JUDGE_LOG = "Failed in Prefetch, no GPT-based answer matching under `exact_matching` policy."
RANDOM_LOG = "Failed to predict, thus randomly generate one. "
UNPARSED_LOG = "Failed to predict: neither the rules nor the judge matched an option; counted wrong. "
CIRCULAR_OFFSET = 1_000_000
L2_CATEGORY = "l2-category"  # the column report_acc reports beside 'category' (and a RowResult.groups key)

MMB_ABBRS = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}
# judge short name -> result file tag (image_mcq.py::name_str_map; same at both commits)
RESULT_FILE_TAGS = {"chatgpt-0125": "openai", "gpt-4-0125": "gpt4"}
# MMT-Bench meta-task (l2-category) -> the column report_acc_MMT names it by (same at both commits)
MMT_ABBRS = {
    "visual_recognition": "VR",
    "localization": "Loc",
    "ocr": "OCR",
    "counting": "Count",
    "hallucination": "HLN",
    "image_retrieval": "IR",
    "threed": "3D",
    "visual_captioning": "VC",
    "visual_grounding": "VG",
    "doc_understanding": "DU",
    "action_recognition": "AR",
    "pixel_level_perception": "PLP",
    "image-to-image_translation": "I2IT",
    "relation_reasoning": "RR",
    "intelligence_quotient_test": "IQT",
    "emotion": "Emo",
    "visual_illusion": "VI",
    "meme_understanding": "MemU",
    "visual_prompt_understanding": "VPU",
    "anomaly_detection": "AND",
    "keypoint_detection": "KD",
    "visual_commonsense_reasoning": "VCR",
    "image_evaluation_judgement": "IEJ",
    "multiple_image_analysis": "MIA",
    "cross_image_matching": "CIM",
    "temporal_understanding": "TU",
    "visual_code": "VP",
    "medical_understanding": "MedU",
    "autonomous_driving": "AUD",
    "discipline_knowledge_reasoning": "DKR",
    "embodied_ai": "EA",
    "gui_navigation": "GN",
}
ALL_SPLITS = "ALL"  # report_acc_MMT's last row: every split together (MMT-Bench's headline)


def result_file_tag(judge_short_name: str | None) -> str:
    if judge_short_name is None:
        return "exact_matching"
    return RESULT_FILE_TAGS.get(judge_short_name, judge_short_name)


def build_choices(row: dict[str, Any]) -> dict[str, Any]:
    """Option letter -> text for the non-empty A..Z columns of a row."""
    return {c: row[c] for c in LETTERS if c in row and not isna(row[c])}


def option_str(choices: dict[str, Any]) -> str:
    """smp/vlm.py::build_option_str"""
    return "There are several options: \n" + "".join(f"{c}. {v}\n" for c, v in choices.items())


def build_judge_prompt(question: Any, choices: dict[str, Any], prediction: str, scoring: str = "") -> str:
    """The reference's matching prompt: BLINK's own, else Chinese or English by the question's text."""
    if scoring == BLINK_SCORING:
        template = judge_prompt("mcq_match_blink.txt")
    else:
        template = judge_prompt("mcq_match_cn.txt" if cn_string(str(question)) else "mcq_match_en.txt")
    return template.format(question, option_str(choices), prediction)


def mmmu_preproc(data: pd.DataFrame) -> pd.DataFrame:
    """Open questions (no option A) become two-option MCQs: A = the answer, B = 'Other Answers'."""
    data = data.copy()
    if "B" not in data.columns:
        data["B"] = np.nan
    a, b = list(data["A"]), list(data["B"])
    for i, (opt_a, ans) in enumerate(zip(a, data["answer"], strict=True)):
        if isna(opt_a):
            a[i], b[i] = ans, "Other Answers"
    data["A"], data["B"] = a, b
    return data


def extract_options(
    rows: list[dict[str, Any]], protocol: Protocol, judge: Judge | None, seed: int, scoring: str = ""
) -> list[tuple[str, str, str]]:
    """extract_answer_from_item for many rows: (option, match log, how) per row, where ``how`` is
    'rule', 'judge', 'no_judge', 'random', 'unparsed' (see ``after_judge_failed``) or 'failed' (the
    judge call failed; the protocol's fallback option is still what the row scores). Judge calls go
    out as one batch per retry round."""
    out: list[tuple[str, str, str] | None] = []
    prompts: dict[int, str] = {}
    choices_of: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        choices = build_choices(row)
        found = can_infer(row["prediction"], choices, protocol)
        if found:
            out.append((found, row["prediction"], "rule"))
        elif judge is None:
            out.append(("Z", NO_JUDGE_LOG, "no_judge"))
        else:
            out.append(None)
            choices_of[i] = choices
            prompts[i] = build_judge_prompt(row.get("question"), choices, row["prediction"], scoring)
    if prompts:
        assert judge is not None

        def accept(i: int, answer: str) -> str | None:
            return None if is_failure_text(answer) else can_infer(answer, choices_of[i], protocol)

        answers = ask_in_rounds(
            judge, prompts, rounds=JUDGE_ROUNDS, accept=accept, max_tokens=protocol.judge_max_tokens
        )
        for i, (value, raw) in answers.items():
            if value:
                out[i] = (value, raw[-1], "judge")
            else:
                option, log, how = after_judge_failed(choices_of[i], rows[i]["index"], protocol, seed)
                out[i] = (option, log, "failed" if call_failed(raw) else how)
    return [o for o in out if o is not None]


def after_judge_failed(
    choices: dict[str, Any], index: Any, protocol: Protocol, seed: int
) -> tuple[str, str, str]:
    """(option, log, how) for a row neither the rules nor the judge's answers could match.

    Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS: a random option or 'Z' (the reference's unseeded draw; vleval
    seeds it per row). Without it (vleval-1): 'Z', i.e. wrong, marked 'unparsed'."""
    if protocol.has(Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS):
        options = list(choices) + ["Z"] if "Z" not in choices else list(choices)
        rng = random.Random(f"{seed}:{index}")
        return rng.choice(options), RANDOM_LOG, "random"
    return "Z", UNPARSED_LOG, "unparsed"


HOW_DECIDED: dict[str, DecidedBy] = {
    "rule": "rule",
    "judge": "judge",
    "no_judge": "fallback",
    "random": "fallback",
    "unparsed": "unparsed",
    "failed": "failed",
}


MCQ_COLUMNS = ("index", "question", "image", "A", "B")
MMT_SCORING = "mmt"  # image_mcq.py: a dataset named '*MMT*' is reported by report_acc_MMT
BLINK_SCORING = "blink"  # multiple_choice.py: 'BLINK' asks the judge with build_prompt_blink
# MCQ answers of -MPO models are cut to the text after "Final answer:" (VK vlmeval/vlm/internvl/utils.py)
MCQ_PROMPT = PromptStyle(mpo_postprocess=True)

# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_mcq.py`` (DATASET_URL/DATASET_MD5 of ``ImageMCQDataset`` and ``MMMUDataset``);
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="MMBench_TEST_EN_V11",
        url=f"{OPENXLAB}/benchmarks/MMBench/MMBench_TEST_EN_V11.tsv",
        md5="8d1a704e791df6f5d9fb3ef782b65365",
        md5_by_protocol=(("2024.12", "26f0f15381a21720255091d3e0316ce6"),),
        task_type="MCQ",
        family="mcq",
        circular=True,
        has_answers=False,
        required_columns=MCQ_COLUMNS,
        description="MMBench v1.1 English test split; no answers: submit to the official server.",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="MMBench_DEV_EN_V11",
        url=f"{OPENXLAB}/benchmarks/MMBench/MMBench_DEV_EN_V11.tsv",
        md5="30c05be8f2f347a50be25aa067248184",
        task_type="MCQ",
        family="mcq",
        circular=True,
        required_columns=(*MCQ_COLUMNS, "answer", "category"),
        description="MMBench v1.1 English dev split, with answers (circular evaluation).",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="MMStar",
        url=f"{OPENXLAB}/VLMEval/MMStar.tsv",
        md5="e1ecd2140806c1b1bbf54b43372efb9e",
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer", "category", "l2-category"),
        description="MMStar: vision-indispensable multiple choice.",
        multimodal_gain=True,
        prompt=PromptStyle(mpo_postprocess=True, mpo_without_cot=True),
    ),
    BenchmarkCard(
        name="MMMU_DEV_VAL",
        url=f"{OPENXLAB}/VLMEval/MMMU_DEV_VAL.tsv",
        md5="585e8ad75e73f75dcad265dfd0417d64",
        md5_by_protocol=(("2024.12", "521afc0f3bf341e6654327792781644d"),),
        task_type="MCQ",
        family="mcq",
        max_tiles=12,
        headline_split="validation",
        multi_image=True,
        open_questions=True,
        required_columns=("index", "question", "image", "answer", "split"),
        description="MMMU dev + validation; multi-image rows; headline = validation Overall.",
        prompt=PromptStyle(mpo_postprocess=True, upscale_first_image=True),
    ),
    BenchmarkCard(
        name="AI2D_TEST",
        url=f"{OPENXLAB}/VLMEval/AI2D_TEST.tsv",
        md5="0f593e0d1c7df9a3d69bf1f947e71975",
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer"),
        description="AI2D test split (the reference's masked variant).",
        prompt=MCQ_PROMPT,
    ),
    # Chinese MMBench: questions and options in Chinese, so the wrapper's Chinese direct-answer
    # instruction and the reference's Chinese judge prompt apply (both chosen by the text, not the name)
    BenchmarkCard(
        name="MMBench_TEST_CN_V11",
        url=f"{OPENXLAB}/benchmarks/MMBench/MMBench_TEST_CN_V11.tsv",
        md5="156e6569f9547afb16603eca16e85373",
        md5_by_protocol=(("2024.12", "74bbe4556dac745613c7cbe5ad787050"),),  # re-uploaded between the commits
        task_type="MCQ",
        family="mcq",
        has_answers=False,
        circular=True,
        required_columns=MCQ_COLUMNS,
        description="MMBench v1.1 Chinese test split; no answers: submit to the official server.",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="MMBench_DEV_CN_V11",
        url=f"{OPENXLAB}/benchmarks/MMBench/MMBench_DEV_CN_V11.tsv",
        md5="593f9b5f6bea453d870a798b34ae4f37",
        task_type="MCQ",
        family="mcq",
        circular=True,
        required_columns=(*MCQ_COLUMNS, "answer", "category"),
        description="MMBench v1.1 Chinese dev split, with answers (circular evaluation).",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="RealWorldQA",
        url=f"{OPENXLAB}/VLMEval/RealWorldQA.tsv",
        md5="4de008f55dc4fd008ca9e15321dc44b7",
        md5_by_protocol=(("2024.12", "92321028d2bc29040284b6674721e48f"),),  # re-uploaded between the commits
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer"),
        description="RealWorldQA: real-world spatial understanding, multiple choice.",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="ScienceQA_TEST",
        url=f"{OPENXLAB}/benchmarks/ScienceQA/ScienceQA_TEST.tsv",
        md5="e42e9e00f9c59a80d8a5db35bc32b71f",
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer"),
        description="ScienceQA test split, the questions with an image.",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="SEEDBench_IMG",
        url=f"{OPENXLAB}/benchmarks/SEEDBench/SEEDBench_IMG.tsv",
        md5="68017231464752261a2526d6ca3a10c0",
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer", "category"),
        description="SEED-Bench image questions; accuracy per evaluation dimension.",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="SEEDBench2_Plus",
        url=f"{OPENXLAB}/benchmarks/SEEDBench/SEEDBench2_Plus.tsv",
        md5="e32d3216dc4f452b0fe497a52015d1fd",
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer", "category"),
        description="SEED-Bench2-Plus: text-rich charts, maps and webs; accuracy per category.",
        prompt=MCQ_PROMPT,
    ),
    BenchmarkCard(
        name="MMT-Bench_VAL",
        url=f"{OPENXLAB}/benchmarks/MMT-Bench/MMT-Bench_VAL.tsv",
        md5="8dd4b730f53dbf9c3aed90ca31c928e0",
        task_type="MCQ",
        family="mcq",
        required_columns=(*MCQ_COLUMNS, "answer", "category", "l2-category"),
        description="MMT-Bench validation split; meta-task scores are means of their subtasks' accuracies.",
        prompt=MCQ_PROMPT,
        scoring=MMT_SCORING,
    ),
    BenchmarkCard(
        name="BLINK",
        url=f"{OPENXLAB}/VLMEval/BLINK.tsv",
        md5="d5e8af148b10ac69f535ff7b23f3f989",
        md5_by_protocol=(("2024.12", "3b6649b6a662184ea046908e5506260e"),),  # re-uploaded between the commits
        task_type="MCQ",
        family="mcq",
        multi_image=True,
        required_columns=(*MCQ_COLUMNS, "answer", "category"),
        description="BLINK validation split: multi-image perception tasks; accuracy per task.",
        prompt=MCQ_PROMPT,
        scoring=BLINK_SCORING,
    ),
)


class MCQFamily(BenchmarkFamily):
    name = "mcq"
    listing_order = 10
    judge_role = JudgeRole.CHOICE
    answer_is_option = True
    headline_name = "Overall accuracy"
    headline_unit = (
        "percent (the reference's Overall fraction x 100; MMMU: the validation split; MMT-Bench: all splits)"
    )
    required_columns = ("index", "prediction")

    # report_acc's Overall: a question right only if every examined rotation is (mcq_circular_eval),
    # of the split the headline reports (MMMU_DEV_VAL: validation; the others have one split)
    metric = ShareRight(over=UNIT, split="split", preferred_split="validation")

    def question_keys(self, table: pd.DataFrame, card: BenchmarkCard, protocol: Protocol) -> list[str]:
        """A circular benchmark's rotations (index mod 1e6, as ``_circular`` groups them) are one question."""
        if not card.circular:
            return super().question_keys(table, card, protocol)
        try:
            return [str(int(i) % CIRCULAR_OFFSET) for i in table["index"]]
        except (TypeError, ValueError):
            raise DataCorruptError(f"{card.name}: circular evaluation needs integer indices.") from None

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        if not card.has_answers:
            return [".xlsx"]
        return [f"_{result_file_tag(judge_short_name)}_result.xlsx", "_acc.csv"]

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        data = _prepare(data, card)
        if not _has_answers(data):
            return _submission_only(data, card)
        answer_map = dict(zip(data["index"], data["answer"], strict=True))
        if card.open_questions:
            data = mmmu_preproc(data)
            answer_map = {k: (v if v in LETTERS else "A") for k, v in answer_map.items()}
        data = data[data["index"].isin(answer_map)].copy()
        data["GT"] = [answer_map[i] for i in data["index"]]
        if card.circular:
            scored, rows = _circular(data, protocol, judge, seed, card.scoring)
        else:
            scored, rows = _vanilla(data, protocol, judge, seed, card.scoring)
        acc = report_acc_mmt(scored) if card.scoring == MMT_SCORING else report_acc(scored)
        chosen = acc.iloc[_headline_position(acc)]
        split = f"{chosen['split']} " if card.headline_split else ""
        notes = []
        no_judge = sum(1 for r in rows if r.decided_by == "fallback" and judge is None)
        randoms = sum(1 for r in rows if r.decided_by == "fallback" and judge is not None)
        if no_judge:
            notes.append(
                f"{no_judge} row(s) could not be matched by rule and had no judge: counted as 'Z' (wrong)."
            )
        if randoms:
            notes.append(
                f"{randoms} row(s) got a random option after {JUDGE_ROUNDS} unreadable judge answers (seed {seed})."
            )
        unparsed = sum(1 for r in rows if r.decided_by == "unparsed")
        if unparsed:
            notes.append(
                f"{unparsed} row(s) matched no option by rule or by {JUDGE_ROUNDS} judge answers: counted wrong."
            )
        tag = result_file_tag(judge.short_name if judge else None)
        return Scored(
            outputs=[ReferenceOutput(f"_{tag}_result.xlsx", scored), ReferenceOutput("_acc.csv", acc)],
            rows=rows,
            headline=float(chosen["Overall"]) * 100,
            headline_name=f"{split}Overall accuracy",
            tables={"acc": acc},
            native={f"{split}Overall (fraction)": float(chosen["Overall"])},
            metrics={
                f"{sp} Overall": float(v) * 100 for sp, v in zip(acc["split"], acc["Overall"], strict=True)
            },
            categories={
                str(c): v * 100
                for c in acc.columns
                if c not in ("split", "Overall") and (v := number(chosen[c])) is not None
            },
            notes=notes,
        )

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """The category columns of ``report_acc`` on the headline's split: each ``l2-category`` (from
        ``groups``), then each ``category`` (a later column of the same name wins, as there), names
        abbreviated as there. Rows written before the l2-category was recorded give only the latter."""
        split = self.metric.headline_split({row.groups.get("split", "none") for row in rows})
        on_split = [row for row in rows if row.groups.get("split", "none") == split]
        out: dict[str, list[RowResult]] = {}
        for values in ([row.groups.get(L2_CATEGORY) for row in on_split], [row.category for row in on_split]):
            column: dict[str, list[RowResult]] = {}
            for row, value in zip(on_split, values, strict=True):
                if value is not None:
                    column.setdefault(MMB_ABBRS.get(value, value), []).append(row)
            out.update(column)
        return out

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_acc.csv")
        try:
            acc = pd.read_csv(path) if path.is_file() else None
        except (OSError, ValueError, pd.errors.ParserError):
            return None
        if acc is None or acc.empty or "Overall" not in acc.columns or "split" not in acc.columns:
            return None
        acc["split"] = acc["split"].astype(str)
        chosen = acc.iloc[_headline_position(acc)]
        overall = number(chosen["Overall"])
        return reference_record(
            self,
            stem,
            path,
            headline=None if overall is None else overall * 100,
            headline_name=f"{chosen['split']} Overall accuracy",
            native={"Overall (fraction)": overall} if overall is not None else {},
            categories={
                str(c): v * 100
                for c in acc.columns
                if c not in ("split", "Overall") and (v := number(chosen[c])) is not None
            },
            judge_model=judge_model,
        )

    def reference_rows(self, stem: Path) -> list[RowResult]:
        rows = []
        for path in sorted(stem.parent.glob(f"{stem.name}_*_result.xlsx")):
            try:
                table = pd.read_excel(path)
            except (OSError, ValueError):
                continue
            if "index" not in table.columns or "hit" not in table.columns:
                continue
            for record in table.to_dict("records"):
                hit = number(record["hit"])
                rows.append(
                    RowResult(
                        index=plain_index(record["index"]),
                        unit=str(record["index"]),
                        score=hit,
                        decided_by=decided_from_log(record.get("log"), record.get("prediction")),
                        judge_log=[str(record["log"])] if not isna(record.get("log")) else [],
                    )
                )
            break
        return rows

    # --- the judge's profile, synthetic data and stand-in judge
    # the English matching prompt; 2 tokens: a letter (the Chinese prompt is billed as the English one)
    judge_profile = JudgeProfile(
        templates=("mcq_match_en.txt",), answer_tokens=2, every_row=False, rounds=JUDGE_ROUNDS
    )

    def judge_profile_of(self, card: BenchmarkCard) -> JudgeProfile:
        """BLINK's cards send BLINK's own matching prompt (``build_judge_prompt``); the others the
        English one (``judge_profile``)."""
        if card.scoring == BLINK_SCORING:
            return dataclasses.replace(self.judge_profile, templates=("mcq_match_blink.txt",))
        return self.judge_profile

    def stand_in_judge(self, prompt: str) -> str | None:
        if "several options of a single-choice question" in prompt or "单选题" in prompt:
            return _stand_in_match(prompt)
        return None


FAMILY = MCQFamily()


def decided_from_log(log: Any, prediction: Any) -> DecidedBy:
    """How a row of the reference's ``_result.xlsx`` was decided, from its ``log`` column (the texts
    written above: ``Match Log: <the prediction>`` when the rules read it, the judge's answer when the
    judge did, the fallback texts otherwise; a circular group logs its pre-fetch)."""
    text = "" if isna(log) else str(log)
    if NO_JUDGE_LOG in text or RANDOM_LOG.strip() in text:
        return "fallback"
    if UNPARSED_LOG.strip() in text:
        return "unparsed"
    if FAILURE_PREFIX in text:
        return "failed"
    if "Pre-fetching" in text or "Prefetching" in text:
        return "rule"
    if not isna(prediction) and text.strip() == f"Match Log: {prediction}.":
        return "rule"
    return "judge" if text else "rule"


def _headline_position(acc: pd.DataFrame) -> int:
    """The row of the accuracy table the headline reads: the 'validation' split where there is one
    (MMMU reports its validation split), else the all-splits row where there is one (MMT-Bench's
    ``report_acc_MMT``), else the first."""
    splits = [str(s) for s in acc["split"]]
    for wanted in ("validation", ALL_SPLITS):
        if wanted in splits:
            return splits.index(wanted)
    return 0


def _prepare(data: pd.DataFrame, card: BenchmarkCard) -> pd.DataFrame:
    data = data.copy()
    data["prediction"] = [str(x) for x in data["prediction"]]
    # lower-case every column name except the option letters (as the reference does)
    data.columns = [c if c in LETTERS else str(c).lower() for c in data.columns]
    if card.circular:
        try:
            data["index"] = [int(x) for x in data["index"]]
        except (TypeError, ValueError):
            raise DataCorruptError(f"{card.name}: circular evaluation needs integer indices.") from None
    return data.sort_values(by="index", kind="stable").reset_index(drop=True)


def _has_answers(data: pd.DataFrame) -> bool:
    return "answer" in data.columns and not data["answer"].isna().any()


def _submission_only(data: pd.DataFrame, card: BenchmarkCard) -> Scored:
    # The reference does not score this split (run.py: 'Can not evaluate ... on non-official
    # servers'); the prediction xlsx itself is what the MMBench server takes.
    if card.has_answers:
        blank = [
            str(i)
            for i, a in zip(data["index"], data.get("answer", [None] * len(data)), strict=True)
            if isna(a)
        ]
        raise DataCorruptError(
            f"{card.name}: row(s) with index {', '.join(blank[:5])}{', ...' if len(blank) > 5 else ''} have no "
            f"answer; {card.name} should have one in every row. Re-download the benchmark file."
        )
    note = (
        f"{card.name} has no ground-truth answers: not scored locally (as the reference). Submit the prediction "
        f"xlsx to the official MMBench evaluation server."
    )
    rows = [
        RowResult(index=plain_index(i), unit=str(i), score=None, decided_by="skipped", prediction=p)
        for i, p in zip(data["index"], data["prediction"], strict=True)
    ]
    return Scored(
        outputs=[ReferenceOutput(".xlsx", data.drop(columns=["GT"], errors="ignore"), keep_existing=True)],
        rows=rows,
        headline=None,
        headline_name="submission file",
        notes=[note],
    )


def _row_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def _attributes(row: dict[str, Any], scoring: str = "") -> dict[str, str]:
    """The row's ``RowResult.groups``: its split, and its l2-category where the benchmark has one
    (``report_acc`` reports both category columns). MMT-Bench: the split is 'ALL' (its headline is
    ``report_acc_MMT``'s all-splits row) and the l2-category is left out (a meta-task's value is the
    mean of its subtasks' accuracies, not a share of its rows)."""
    if scoring == MMT_SCORING:
        return {"split": ALL_SPLITS}
    out = {"split": str(row.get("split", "none"))}
    if not isna(row.get(L2_CATEGORY)):
        out[L2_CATEGORY] = str(row[L2_CATEGORY])
    return out


def _category(row: dict[str, Any]) -> str | None:
    value = row.get("category")
    return None if isna(value) else str(value)


def _vanilla(data, protocol, judge, seed, scoring: str = "") -> tuple[pd.DataFrame, list[RowResult]]:
    rows = _row_dicts(data)
    extracted = extract_options(rows, protocol, judge, seed, scoring)
    hits = [int(opt == row["GT"]) for (opt, _, _), row in zip(extracted, rows, strict=True)]
    logs = [f"Match Log: {log}. " for _, log, _ in extracted]
    scored = data.drop(columns=["GT"]).copy()
    scored["hit"], scored["log"] = hits, logs
    results = [
        RowResult(
            index=plain_index(row["index"]),
            unit=str(row["index"]),
            score=float(hit),
            decided_by=HOW_DECIDED[how],
            extracted=opt,
            answer=row["GT"],
            prediction=row["prediction"],
            groups=_attributes(row, scoring),
            category=_category(row),
            judge_log=[log],
        )
        for row, (opt, _, how), hit, log in zip(rows, extracted, hits, logs, strict=True)
    ]
    return scored, results


def _circular(data, protocol, judge, seed, scoring: str = "") -> tuple[pd.DataFrame, list[RowResult]]:
    if "g_index" not in data.columns:
        data["g_index"] = [int(x % CIRCULAR_OFFSET) for x in data["index"]]
    main = data[data["index"] == data["g_index"]]
    groups = {g: _row_dicts(data[data["g_index"] == g]) for g in main["index"]}
    results: dict[Any, dict[str, Any]] = {}
    pending: dict[Any, list[str | None]] = {}
    prefetched: dict[Any, list[str | None]] = {}
    for g, members in groups.items():
        decided, preds = _prefetch_group(members, protocol)
        prefetched[g] = preds
        if decided is not None:
            results[g] = decided
        else:
            pending[g] = preds
    per_copy: dict[Any, tuple[str, str, str]] = {}
    if pending and judge is None:
        for g in pending:
            results[g] = {"hit": 0, "log": NO_JUDGE_LOG}
    elif pending:
        _judge_by_rotation(groups, pending, per_copy, protocol, judge, seed, scoring)
        for g, preds in pending.items():
            results[g] = _judge_group(groups[g], preds, per_copy)
    scored = main.drop(columns=["GT"]).copy()
    scored["hit"] = [results[g]["hit"] for g in scored["index"]]
    scored["log"] = [results[g]["log"] for g in scored["index"]]
    return scored, _copy_rows(groups, prefetched, per_copy, results, judge is None)


def _judge_by_rotation(groups, pending, per_copy, protocol, judge, seed, scoring: str = "") -> None:
    """eval_circular_group asks the judge about a group's rotations in order and stops at the first
    one judged wrong; so the judge sees exactly the reference's requests, rotation k of every group
    still alive goes out as one batch, then rotation k + 1 of the groups that survived it."""
    alive = dict(pending)
    position = 0
    while alive:
        todo = [groups[g][position] for g, preds in alive.items() if not preds[position]]
        for member, extracted in zip(
            todo, extract_options(todo, protocol, judge, seed, scoring), strict=True
        ):
            per_copy[member["index"]] = extracted
        survivors = {}
        for g, preds in alive.items():
            member = groups[g][position]
            wrong = not preds[position] and per_copy[member["index"]][0] != member["GT"]
            if not wrong and position + 1 < len(groups[g]):
                survivors[g] = preds
        alive = survivors
        position += 1


def _copy_rows(groups, prefetched, per_copy, results, no_judge: bool) -> list[RowResult]:
    """One row per copy (rotation), its unit the question (index mod 1e6): what was read from it, and
    whether it is right; a copy never examined (the reference stops at the first wrong one) is
    'skipped'."""
    out = []
    for g, members in groups.items():
        for k, member in enumerate(members):
            found = prefetched[g][k] if k < len(prefetched[g]) else None
            log: list[str] = []
            if found:
                extracted, how = found, "rule"
            elif member["index"] in per_copy:
                extracted, match_log, how = per_copy[member["index"]]
                log = [match_log]
            elif no_judge and results[g]["log"] == NO_JUDGE_LOG:
                # not readable by rule and no judge: what sank its question
                extracted, how = None, "no_judge"
            else:
                extracted, how = None, None
            decided: DecidedBy = HOW_DECIDED[how] if how else "skipped"
            score = None if decided == "skipped" else float(extracted == member["GT"])
            out.append(
                RowResult(
                    index=plain_index(member["index"]),
                    unit=str(plain_index(g)),
                    score=score,
                    decided_by=decided,
                    extracted=extracted,
                    answer=member["GT"],
                    prediction=member["prediction"],
                    groups=_attributes(member),
                    category=_category(member),
                    judge_log=log,
                    extra={"question_hit": int(results[g]["hit"])},
                )
            )
    return out


def _prefetch_group(members: list[dict[str, Any]], protocol: Protocol):
    """prefetch_circular_group: a wrong letter decides hit=0; all right decides hit=1."""
    preds: list[str | None] = []
    for i, item in enumerate(members):
        pred = can_infer(item["prediction"], build_choices(item), protocol)
        preds.append(pred)
        if pred and item["GT"] != pred:
            log = (
                f"Failed in Prefetching Rolling {i}: Answer is {item['GT']}, "
                f"Prediction is {item['prediction']}, Pre-fetched is {pred}. "
            )
            return {"hit": 0, "log": log}, preds
    if all(item["GT"] == p for item, p in zip(members, preds, strict=True)):
        return {"hit": 1, "log": "Succeed During Pre-fetching"}, preds
    return None, preds


def _judge_group(members, preds, per_copy) -> dict[str, Any]:
    """eval_circular_group after prefetch: the first copy judged wrong decides hit=0."""
    log = ""
    for i, item in enumerate(members):
        if preds[i]:
            log += f"Rolling {i} Matched.\n"
            continue
        opt, match_log, _ = per_copy[item["index"]]
        if opt != item["GT"]:
            log += (
                f"Failed in Rolling {i}: Answer is {item['GT']}; Prediction is {item['prediction']}; "
                f"Pre-fetched is {opt}; Match Log is {match_log}.\n"
            )
            return {"hit": 0, "log": log}
        log += f"Rolling {i}: Answer is {item['GT']}, Prediction is {item['prediction']}, Pre-fetched is {opt}.\n"
    return {"hit": 1, "log": log}


def report_acc(df: pd.DataFrame) -> pd.DataFrame:
    """multiple_choice.py::report_acc: fractions per split, Overall, per l2-category, per category
    (MMBench abilities abbreviated). Splits sorted (the reference's order comes from a set)."""
    df = df.copy()
    if "split" not in df.columns:
        df["split"] = "none"
    splits = sorted(set(df["split"]), key=str)
    res: dict[str, list[Any]] = {"split": splits}
    res["Overall"] = [_mean(df[df["split"] == sp]["hit"]) for sp in splits]
    for group in (L2_CATEGORY, "category"):
        if group not in df.columns:
            continue
        for ability in sorted(set(df[group]), key=str):
            sub = df[df[group] == ability]
            res[MMB_ABBRS.get(ability, ability)] = [_mean(sub[sub["split"] == sp]["hit"]) for sp in splits]
    return pd.DataFrame(res)


def report_acc_mmt(df: pd.DataFrame) -> pd.DataFrame:
    """multiple_choice.py::report_acc_MMT: per split and then for all splits together (the 'ALL' row):
    Overall, each meta-task (l2-category, abbreviated) as the plain mean of its subtasks' accuracies
    (subtasks in order of appearance), each subtask (category, sorted). Splits sorted (the reference's
    come from a set). Differences: a meta-task absent from the rows gets no column (the reference's
    table then has columns of unequal length and pandas refuses it)."""
    df = df.copy()
    if "split" not in df.columns:
        df["split"] = "none"
    splits = sorted(set(df["split"]), key=str)

    def per_split(sub: pd.DataFrame) -> list[float]:
        return [_mean(sub[sub["split"] == sp]["hit"]) for sp in splits] + [_mean(sub["hit"])]

    res: dict[str, list[Any]] = {"split": [*splits, ALL_SPLITS], "Overall": per_split(df)}
    meta: dict[str, list[float]] = {name: [] for name in MMT_ABBRS.values()}
    res.update(meta)
    if "category" in df.columns:
        for task in sorted(set(df["category"]), key=str):
            res[task] = per_split(df[df["category"] == task])
    if L2_CATEGORY in df.columns:
        for ability in sorted(set(df[L2_CATEGORY]), key=str):
            subtasks = [
                per_split(df[df["category"] == t])
                for t in df[df[L2_CATEGORY] == ability]["category"].unique()
            ]
            # sum(...) / len(...) as there (Python's left-to-right float sum)
            res[MMT_ABBRS.get(ability, ability)] = [
                sum(acc[k] for acc in subtasks) / len(subtasks) for k in range(len(splits) + 1)
            ]
    return pd.DataFrame({k: v for k, v in res.items() if not (k in meta and not v)})


def _mean(values: pd.Series) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks) and the stand-in judge's rule
# --------------------------------------------------------------------------------------------------
_MMBENCH_ABILITIES = (
    ("coarse_perception", "image_scene"),
    ("finegrained_perception (instance-level)", "object_localization"),
    ("finegrained_perception (cross-instance)", "spatial_relationship"),
    ("logic_reasoning", "structuralized_imagetext_understanding"),
    ("relation_reasoning", "social_relation"),
    ("attribute_reasoning", "physical_property_reasoning"),
)


def _mmbench(rng: random.Random, n: int, with_answers: bool, split: str) -> list[Row]:
    """One row per option rotation of each question (indices offset by ``CIRCULAR_OFFSET`` per
    rotation), the main rows first."""
    mains, copies = [], []
    for i in range(n):
        image, drawn = shape_image(rng, i)
        n_options = (4, 2, 3, 4)[i % 4]
        question, options, answer = colour_question(rng, drawn, n_options)
        l2, category = _MMBENCH_ABILITIES[i % len(_MMBENCH_ABILITIES)]
        hint = NAN if i % 2 == 0 else f"The image shows {len(drawn)} shapes on a white background."
        for rotation in range(n_options):
            rotated = options[rotation:] + options[:rotation]
            row: Row = {"index": i + rotation * CIRCULAR_OFFSET, "question": question, "hint": hint}
            row.update(pad_options(rotated, 4))
            if with_answers:
                row["answer"] = LETTERS[(answer - rotation) % n_options]
            row.update(
                {
                    "category": category,
                    "l2-category": l2,
                    "split": split,
                    "source": "synthetic",
                    # copies share the main row's image by naming its index, as the real files do
                    "image": image if rotation == 0 else str(i),
                }
            )
            (mains if rotation == 0 else copies).append(row)
    return mains + copies


_MMSTAR_CATEGORIES = (
    ("coarse perception", "image scene and topic"),
    ("fine-grained perception", "attribute recognition"),
    ("instance reasoning", "single-instance reasoning"),
    ("logical reasoning", "diagram reasoning"),
    ("math", "numeric commonsense and calculation"),
    ("science & technology", "natural science"),
)


def _mmstar(rng: random.Random, n: int) -> list[Row]:
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        question, options, answer = colour_question(rng, drawn, 4)
        listed = ", ".join(f"{LETTERS[k]}: {text}" for k, text in enumerate(options))
        category, l2 = _MMSTAR_CATEGORIES[i % len(_MMSTAR_CATEGORIES)]
        row: Row = {"index": i, "question": f"{question}\nOptions: {listed}"}
        row.update(pad_options(options, 4))
        row.update({"answer": LETTERS[answer], "category": category, "l2-category": l2, "bench": "synthetic"})
        row["image"] = image
        rows.append(row)
    return rows


def _ai2d(rng: random.Random, n: int) -> list[Row]:
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        question, options, answer = colour_question(rng, drawn, (4, 3, 2)[i % 3])
        row: Row = {"index": i, "question": question}
        row.update(pad_options(options, 4))
        row.update({"answer": LETTERS[answer], "image": image})
        rows.append(row)
    return rows


_MMMU_SUBJECTS = (
    ("Art", "Art & Design"),
    ("Accounting", "Business"),
    ("Physics", "Science"),
    ("Math", "Science"),
)


def _mmmu(rng: random.Random, n: int) -> list[Row]:
    """dev and validation rows, some with several images (a list literal of images and paths), some
    open questions without options."""
    rows = []
    for i in range(n):
        split = "dev" if i % 3 == 0 else "validation"
        subject, discipline = _MMMU_SUBJECTS[i % len(_MMMU_SUBJECTS)]
        item_id = f"{split}_{subject}_{i + 1}"
        n_images = {1: 2, 3: 3}.get(i % 4, 1)
        images, drawn_all = [], []
        for k in range(n_images):
            image, drawn = shape_image(rng, i + 2 * k)
            images.append(image)
            drawn_all.append(drawn)
        markers = " ".join(f"<image {k + 1}>" for k in range(n_images))
        row: Row = {"index": i + 1}
        if i % 5 == 2:  # open question: no options at all
            count = sum(len(d) for d in drawn_all)
            row["question"] = f"How many shapes are drawn in {markers} in total?"
            row.update(pad_options([], 5))
            row["answer"] = str(count)
        else:
            question, options, answer = colour_question(rng, drawn_all[0], 3 + i % 3)
            row["question"] = question.replace("in the image", "in <image 1>") + (
                f" (See also {markers}.)" if n_images > 1 else ""
            )
            row.update(pad_options(options, 5))
            row["answer"] = LETTERS[answer]
        names = [f"{item_id}_{k + 1}.png" for k in range(n_images)]
        row.update(
            {
                "category": subject,
                "l2-category": discipline,
                "split": split,
                "id": item_id,
                "image": str(images) if n_images > 1 else images[0],
                "image_path": str(names) if n_images > 1 else names[0],
            }
        )
        rows.append(row)
    return rows


# the further MCQ benchmarks (issue 21)
_CN_COLOURS = {
    "red": "红色",
    "green": "绿色",
    "blue": "蓝色",
    "yellow": "黄色",
    "purple": "紫色",
    "orange": "橙色",
}
_CN_SHAPES = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}


def _mmbench_cn(rng: random.Random, n: int, with_answers: bool, split: str) -> list[Row]:
    """MMBench's rows in Chinese (question, hint and options), so the Chinese instruction and the
    Chinese judge prompt are exercised."""
    rows = _mmbench(rng, n, with_answers, split)
    for row in rows:
        shape = next(s for s in _CN_SHAPES if s in row["question"])
        row["question"] = f"图中画的第一个{_CN_SHAPES[shape]}是什么颜色？"
        if isinstance(row["hint"], str):
            row["hint"] = "图中白色背景上画着几个形状。"
        for letter in "ABCD":
            if isinstance(row[letter], str):
                row[letter] = _CN_COLOURS[row[letter]]
    return rows


def _plain_mcq(
    rng: random.Random, n: int, categories: tuple[str, ...] = (), hint: bool = False, extra: Row | None = None
) -> list[Row]:
    """A single-image MCQ file (RealWorldQA, ScienceQA, SEED-Bench): 2 to 4 options, a category per
    row where the benchmark has one, a hint on every other row where it has one."""
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        question, options, answer = colour_question(rng, drawn, (4, 2, 3)[i % 3])
        row: Row = {"index": i, "question": question}
        if hint:
            row["hint"] = NAN if i % 2 == 0 else f"The image shows {len(drawn)} shapes."
        row.update(pad_options(options, 4))
        row["answer"] = LETTERS[answer]
        if categories:
            row["category"] = categories[i % len(categories)]
        row.update(extra or {})
        row["image"] = image
        rows.append(row)
    return rows


def _mmt_bench(rng: random.Random, n: int) -> list[Row]:
    """Row i: meta-task (l2-category) i mod 32, in report_acc_MMT's table order, subtask (category)
    i div 32 of it: from 33 rows on, some meta-tasks average two subtasks; from 32 rows on, every
    meta-task is there (the reference's table needs them all)."""
    rows = _plain_mcq(rng, n)
    metas = list(MMT_ABBRS)
    for i, row in enumerate(rows):
        image = row.pop("image")
        meta = metas[i % len(metas)]
        row["category"], row["l2-category"] = f"{meta}_subtask_{i // len(metas)}", meta
        row["image"] = image
    return rows


_BLINK_TASKS = ("Relative_Depth", "Visual_Similarity", "Multi-view_Reasoning")


def _blink(rng: random.Random, n: int) -> list[Row]:
    """Two or three images per question (a list of base64 images with their file names)."""
    rows = []
    for i in range(n):
        n_images = 2 + i % 2
        images, drawn_all = [], []
        for k in range(n_images):
            image, drawn = shape_image(rng, i + 3 * k)
            images.append(image)
            drawn_all.append(drawn)
        question, options, answer = colour_question(rng, drawn_all[0], (2, 4)[i % 2])
        row: Row = {
            "index": i + 1,
            "question": question.replace("the image", "the first image"),
        }
        row.update(pad_options(options, 4))
        row.update(
            {
                "answer": LETTERS[answer],
                "category": _BLINK_TASKS[i % len(_BLINK_TASKS)],
                "image": str(images),
                "image_path": str([f"blink_{i}_{k}.jpg" for k in range(n_images)]),
            }
        )
        rows.append(row)
    return rows


SYNTHETIC: dict[str, Callable[[random.Random, int], list[Row]]] = {
    "MMBench_TEST_EN_V11": lambda rng, n: _mmbench(rng, n, with_answers=False, split="test"),
    "MMBench_DEV_EN_V11": lambda rng, n: _mmbench(rng, n, with_answers=True, split="dev"),
    "MMStar": _mmstar,
    "MMMU_DEV_VAL": _mmmu,
    "AI2D_TEST": _ai2d,
    "MMBench_TEST_CN_V11": lambda rng, n: _mmbench_cn(rng, n, with_answers=False, split="test"),
    "MMBench_DEV_CN_V11": lambda rng, n: _mmbench_cn(rng, n, with_answers=True, split="dev"),
    "RealWorldQA": _plain_mcq,
    "ScienceQA_TEST": lambda rng, n: _plain_mcq(
        rng, n, ("natural science", "social science"), hint=True, extra={"split": "test"}
    ),
    "SEEDBench_IMG": lambda rng, n: _plain_mcq(rng, n, ("Scene Understanding", "Instance Identity")),
    "SEEDBench2_Plus": lambda rng, n: _plain_mcq(rng, n, ("chart", "map", "web")),
    "MMT-Bench_VAL": _mmt_bench,
    "BLINK": _blink,
}


def _stand_in_match(prompt: str) -> str:
    """The option letter the answer names (by letter, else by the option's text), else Z: what a
    sensible judge answers to the matching prompt (English or Chinese)."""
    chinese = "选项:" in prompt
    options_block = last_segment(
        prompt, "选项:" if chinese else "Options:", "答案:" if chinese else "\nAnswer:"
    )
    answer = last_segment(prompt, "答案:" if chinese else "Answer:", "输出:" if chinese else "Your output:")
    options = dict(re.findall(r"(?:^|\s)([A-Z])\.\s+(.+?)(?=\s+[A-Z]\.\s|\n|$)", options_block))
    tokens = re.sub(r"[.()\[\],:;!*#{}]", " ", answer).split()
    letters = [letter for letter in options if letter in tokens]
    if len(letters) == 1:
        return letters[0]
    by_text = [letter for letter, text in options.items() if text.strip().lower() in answer.lower()]
    return by_text[0] if len(by_text) == 1 else "Z"
