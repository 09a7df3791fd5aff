"""The benchmarks vleval evaluates, as the reference toolkit registers them.

URLs and md5s are facts from VLMEvalKit (VK) at e8e78f05 (the newest pinned protocol); where the
2024.12 protocol (VK b13a37db) recorded a different md5, ``Protocol.md5_overrides`` carries it.
Sources, per card:
- MMBench_*_V11, MMStar, AI2D_TEST, MMMU_DEV_VAL: ``vlmeval/dataset/image_mcq.py`` (DATASET_URL/MD5 of
  ``ImageMCQDataset`` and ``MMMUDataset``).
- HallusionBench: ``vlmeval/dataset/image_yorn.py``.
- MathVista_MINI, OCRBench, MMVet, LLaVABench, CRPE_*: ``vlmeval/dataset/image_vqa.py``.
- max_tiles:
  ``vlmeval/vlm/internvl/internvl_chat.py::InternVLChat.set_max_num`` (docs/model-protocol.md).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from vleval.errors import VlevalError
from vleval.types import BenchmarkCard, PromptStyle

_OPENXLAB = "https://opencompass.openxlab.space/utils"
_CRPE_HF = "https://huggingface.co/datasets/petter12321/crpe_vlmevalkit/resolve/main"

_MCQ_COLUMNS = ("index", "question", "image", "A", "B")

# How the InternVL wrapper words each benchmark (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt,
# generate_v2; vlmeval/vlm/internvl/utils.py::build_mpo_prompt): MCQ and Y/N answers of -MPO models are
# post-processed, so is CRPE; MMStar, HallusionBench and OCRBench get the MPO prompt without CoT.
_MCQ = PromptStyle(mpo_postprocess=True)
PROMPT_STYLES = {
    "MMStar": PromptStyle(mpo_postprocess=True, mpo_without_cot=True),
    "MMMU_DEV_VAL": PromptStyle(mpo_postprocess=True, upscale_first_image=True),
    "HallusionBench": PromptStyle(
        yorn_instruction="Please answer yes or no.", mpo_without_cot=True, mpo_postprocess=True
    ),
    "MathVista_MINI": PromptStyle(vqa="verbatim"),
    "OCRBench": PromptStyle(vqa="short", mpo_without_cot=True),
    "MMVet": PromptStyle(vqa="verbatim", mpo_keeps_prompt=True),
    "LLaVABench": PromptStyle(vqa="detail", mpo_keeps_prompt=True),
    "CRPE_EXIST": PromptStyle(vqa="verbatim", mpo_postprocess=True),
    "CRPE_RELATION": PromptStyle(vqa="verbatim", mpo_postprocess=True),
}


def _card(**kwargs) -> BenchmarkCard:
    default = _MCQ if kwargs["task_type"] == "MCQ" else PromptStyle()
    return BenchmarkCard(prompt=PROMPT_STYLES.get(kwargs["name"], default), **kwargs)


_CARDS = (
    _card(
        name="MMBench_TEST_EN_V11",
        url=f"{_OPENXLAB}/benchmarks/MMBench/MMBench_TEST_EN_V11.tsv",
        md5="8d1a704e791df6f5d9fb3ef782b65365",
        task_type="MCQ",
        family="mcq",
        has_answers=False,
        required_columns=_MCQ_COLUMNS,
        description="MMBench v1.1 English test split; no answers: submit to the official server.",
    ),
    _card(
        name="MMBench_DEV_EN_V11",
        url=f"{_OPENXLAB}/benchmarks/MMBench/MMBench_DEV_EN_V11.tsv",
        md5="30c05be8f2f347a50be25aa067248184",
        task_type="MCQ",
        family="mcq",
        required_columns=(*_MCQ_COLUMNS, "answer", "category"),
        description="MMBench v1.1 English dev split, with answers (circular evaluation).",
    ),
    _card(
        name="MMStar",
        url=f"{_OPENXLAB}/VLMEval/MMStar.tsv",
        md5="e1ecd2140806c1b1bbf54b43372efb9e",
        task_type="MCQ",
        family="mcq",
        required_columns=(*_MCQ_COLUMNS, "answer", "category", "l2-category"),
        description="MMStar: vision-indispensable multiple choice.",
    ),
    _card(
        name="MMMU_DEV_VAL",
        url=f"{_OPENXLAB}/VLMEval/MMMU_DEV_VAL.tsv",
        md5="585e8ad75e73f75dcad265dfd0417d64",
        task_type="MCQ",
        family="mcq",
        max_tiles=12,
        required_columns=("index", "question", "image", "answer", "split"),
        description="MMMU dev + validation; multi-image rows; headline = validation Overall.",
    ),
    _card(
        name="MathVista_MINI",
        url=f"{_OPENXLAB}/VLMEval/MathVista_MINI.tsv",
        md5="f199b98e178e5a2a20e7048f5dcb0464",
        task_type="VQA",
        family="mathvista",
        required_columns=("index", "question", "image", "answer", "question_type", "answer_type"),
        description="MathVista testmini: answer extraction by judge, accuracy per task and skill.",
    ),
    _card(
        name="HallusionBench",
        url=f"{_OPENXLAB}/VLMEval/HallusionBench.tsv",
        md5="0c23ac0dc9ef46832d7a24504f2a0c7c",
        task_type="Y/N",
        family="yorn",
        required_columns=("index", "question", "image", "answer", "category", "l2-category"),
        description="HallusionBench yes/no questions: aAcc, fAcc, qAcc.",
    ),
    _card(
        name="AI2D_TEST",
        url=f"{_OPENXLAB}/VLMEval/AI2D_TEST.tsv",
        md5="0f593e0d1c7df9a3d69bf1f947e71975",
        task_type="MCQ",
        family="mcq",
        required_columns=(*_MCQ_COLUMNS, "answer"),
        description="AI2D test split (the reference's masked variant).",
    ),
    _card(
        name="OCRBench",
        url=f"{_OPENXLAB}/VLMEval/OCRBench.tsv",
        md5="e953d98a987cc6e26ef717b61260b778",
        task_type="VQA",
        family="ocrbench",
        max_tiles=24,
        required_columns=("index", "question", "image", "answer", "category"),
        description="OCRBench: substring match, final score out of 1000.",
    ),
    _card(
        name="MMVet",
        url=f"{_OPENXLAB}/VLMEval/MMVet.tsv",
        md5="748aa6d4aa9d4de798306a63718455e3",
        task_type="VQA",
        family="mmvet",
        required_columns=("index", "question", "image", "answer", "category"),
        description="MM-Vet: open answers graded by an LLM judge per capability.",
    ),
    _card(
        name="LLaVABench",
        url=f"{_OPENXLAB}/VLMEval/LLaVABench.tsv",
        md5="d382a093f749a697820d3dadd61c8428",
        task_type="VQA",
        family="llavabench",
        required_columns=("index", "question", "image", "caption", "gpt4_ans", "category"),
        description="LLaVA-Bench in-the-wild: relative score against GPT-4 answers.",
    ),
    _card(
        name="CRPE_EXIST",
        url=f"{_CRPE_HF}/CRPE_EXIST.tsv",
        md5="315584e23ac1ff7f8719ed3b7ad90f08",
        task_type="VQA",
        family="crpe",
        required_columns=("index", "question", "image", "answer", "category"),
        description="CRPE existence questions (blocks of 4 circular variants).",
    ),
    _card(
        name="CRPE_RELATION",
        url=f"{_CRPE_HF}/CRPE_RELATION.tsv",
        md5="bad7094cde0b572288f4b119c2d0c656",
        task_type="VQA",
        family="crpe",
        required_columns=("index", "question", "image", "answer", "category"),
        description="CRPE relation questions: subject, predicate, object.",
    ),
)

BENCHMARKS: dict[str, BenchmarkCard] = {card.name: card for card in _CARDS}


def get_benchmark(name: str) -> BenchmarkCard:
    """The card registered under ``name`` (exact VLMEvalKit spelling); a VlevalError lists the known
    names and suggests close matches otherwise."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        pass
    by_lower = {key.lower(): key for key in BENCHMARKS}
    if name.lower() in by_lower:
        return BENCHMARKS[by_lower[name.lower()]]
    close = difflib.get_close_matches(name, list(BENCHMARKS), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise VlevalError(f"unknown benchmark {name!r}.{hint} Known benchmarks: {', '.join(BENCHMARKS)}.")


def benchmark_of_file(path: Path | str) -> BenchmarkCard | None:
    """The benchmark a ``<MODEL>_<DATASET>.xlsx|.tsv`` prediction file is named after (the longest
    registered name the stem ends with, so MMBench_DEV_EN_V11 is not read as a shorter name), or None."""
    stem = Path(path).stem
    for name in sorted(BENCHMARKS, key=len, reverse=True):
        if stem.endswith(f"_{name}"):
            return BENCHMARKS[name]
    return None


def benchmark_names() -> list[str]:
    """Registered names in registry order (the order `vleval data list` prints)."""
    return list(BENCHMARKS)
