"""Benchmark row -> what InternVL2.5 is asked, exactly as VLMEvalKit's InternVL wrapper asks it.

Spec: ``docs/model-protocol.md`` (tile caps, plain prompts, chain of thought, the -MPO prompt and
post-processing). Reference: VLMEvalKit ``vlmeval/vlm/internvl/internvl_chat.py``
(``build_prompt``, ``generate_v2``) and ``vlmeval/vlm/internvl/utils.py`` (``build_multi_choice_prompt``,
``build_*_cot_prompt``, ``build_mpo_prompt``, ``reorganize_prompt``), read at b13a37db and e8e78f05:
for the benchmarks vleval registers, the prompt text and tiling are the same at both commits; the
protocols differ only in the image file the model reads (``Quirk.JPEG_REENCODE_SINGLE_IMAGE``).

The reference decides by dataset-name substrings (``listinstr``); here each benchmark card states
the decisions (``BenchmarkCard.prompt``, a ``PromptStyle``), checked against the reference's fragment
tables in ``tests/models/test_prompts.py``.
"""

from __future__ import annotations

import re
import string
from functools import cache
from importlib import resources
from typing import Literal

from PIL import Image

from vleval.models.internvl.preprocessing import as_dumped
from vleval.protocol import Protocol, Quirk
from vleval.types import BenchmarkCard, GenerationSettings, ModelCard, Request, Sample

# The reference caps the total tiles of a request at 64: each image gets at most 64 // n_images.
TOTAL_MAX_TILES = 64

MCQ_DIRECT_SUFFIX = "Answer with the option's letter from the given choices directly."
MCQ_DIRECT_SUFFIX_CN = "请直接回答选项字母。"
OPEN_DIRECT_SUFFIX = "Answer the question directly."
OPEN_DIRECT_SUFFIX_CN = "请直接回答问题。"
SHORT_ANSWER_SUFFIX = "Answer the question using a single word or phrase."
DETAIL_SUFFIX = "Answer this question in detail."
_CJK = re.compile("[\u4e00-\u9fff]")
_OPTION_LETTERS = frozenset(string.ascii_uppercase)


@cache
def prompt_text(name: str) -> str:
    """A protocol prompt string from ``vleval/data/prompts`` (sources in its SOURCES.md)."""
    return resources.files("vleval").joinpath("data", "prompts", name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------
def lettered_options(sample: Sample) -> list[tuple[str, str]]:
    """The options the reference reads: columns A..Z, in alphabetical order."""
    return sorted((letter, text) for letter, text in sample.options.items() if letter in _OPTION_LETTERS)


def multiple_choice_prompt(sample: Sample) -> str:
    """§4.1: optional hint line, the question, one ``X. text`` line per option, the direct-answer
    instruction (Chinese if the text so far has any CJK character)."""
    text = sample.question if sample.hint is None else sample.hint + "\n" + sample.question
    options = lettered_options(sample)
    for letter, option in options:
        text += f"\n{letter}. {option}"
    chinese = _CJK.search(text) is not None
    if options:
        return text + "\n" + (MCQ_DIRECT_SUFFIX_CN if chinese else MCQ_DIRECT_SUFFIX)
    return text + "\n" + (OPEN_DIRECT_SUFFIX_CN if chinese else OPEN_DIRECT_SUFFIX)


def mcq_cot_prompt(text: str, instruction: str | None = None) -> str:
    """§5: drop the English direct-answer instruction wherever it occurs, strip, append the MCQ CoT
    (``instruction``: the model's own CoT text, which replaces the default one)."""
    return text.replace(MCQ_DIRECT_SUFFIX, "").strip() + "\n" + (instruction or prompt_text("mcq_cot.txt"))


def qa_cot_prompt(text: str, instruction: str | None = None) -> str:
    return text + "\n" + (instruction or prompt_text("qa_cot.txt"))


def model_cot_instruction(model: ModelCard) -> str | None:
    """The CoT text that replaces both default ones for ``model`` (the wrapper's ``self.cot_prompt``:
    set by ``cot_prompt_version="r1"``, i.e. the thinking entries), None for the defaults."""
    if not model.thinking:
        return None
    from vleval.models.internvl.thinking import reference_thinking_settings

    return reference_thinking_settings().cot_prompt


def mpo_prompt(sample: Sample) -> str:
    """§6: the raw question (no hint, no suffixes) and its options inside the MPO reasoning prompt."""
    question = sample.question
    options = "".join(f"{letter}. {option}\n" for letter, option in lettered_options(sample))
    if options.strip():
        question = f"{question}\n{options}"
    return prompt_text("mpo_final_answer.txt").format(question=question).strip()


def uses_mpo_prompt(card: BenchmarkCard, model: ModelCard, cot: bool) -> bool:
    return model.mpo and (cot or card.prompt.mpo_without_cot)


def question_text(sample: Sample, card: BenchmarkCard, model: ModelCard, cot: bool) -> str:
    """The question as the model is asked it, before the image placeholders are added."""
    if card.task_type == "Y/N":
        # the reference appends these after a space, not a newline
        short = SHORT_ANSWER_SUFFIX if card.prompt.yorn_short_answer else ""
        said = " ".join(filter(None, (card.prompt.yorn_instruction, short)))
        text = sample.question + " " + said if said else sample.question
    elif card.task_type == "MCQ":
        text = multiple_choice_prompt(sample)
        if cot:
            text = mcq_cot_prompt(text, model_cot_instruction(model))
    else:
        style = card.prompt.vqa
        if style == "detail":
            text = sample.question + "\n" + DETAIL_SUFFIX
        elif style == "verbatim":
            text = qa_cot_prompt(sample.question, model_cot_instruction(model)) if cot else sample.question
        else:
            text = sample.question + "\n" + SHORT_ANSWER_SUFFIX
    if uses_mpo_prompt(card, model, cot) and not card.prompt.mpo_keeps_prompt:
        text = mpo_prompt(sample)
    return text


def with_image_placeholders(text: str, n_images: int) -> str:
    """§4.4: one image -> ``<image>\\n`` before the text; several -> one ``Image-k: <image>`` line each.

    The reference message is [text, image_1, ..., image_n]; it is flattened with an ``<Image-k>`` tag
    per image, the ``Image-k: <image>`` lines are prepended, and the run of tags is deleted. Done the
    same way so that text which itself contains such tags is treated identically.
    """
    if n_images == 1:
        return "<image>\n" + text
    tags = "".join(f"<Image-{k}>" for k in range(1, n_images + 1))
    prefix = "".join(f"Image-{k}: <image>\n" for k in range(1, n_images + 1))
    return (prefix + text + tags).replace(tags, "")


# --------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------
def dump_file_names(sample: Sample, n_images: int, protocol: Protocol) -> list[str]:
    """The file names the reference writes the row's images to before the model reads them
    (``ImageBaseDataset.dump_image``); their extensions decide the re-encoding.

    - one image: ``<index>.jpg`` under ``Quirk.JPEG_REENCODE_SINGLE_IMAGE`` (b13a37db ignores the
      ``image_path`` column here); otherwise the ``image_path`` name, or ``<index>.png``;
    - several images: the ``image_path`` names, or ``<index>_<i>.png``.
    """
    if n_images == 0:
        return []
    if n_images == 1:
        if protocol.has(Quirk.JPEG_REENCODE_SINGLE_IMAGE):
            return [f"{sample.index}.jpg"]
        return [sample.image_paths[0]] if sample.image_paths else [f"{sample.index}.png"]
    if len(sample.image_paths) >= n_images:  # the reference zips images with names
        return list(sample.image_paths[:n_images])
    return [f"{sample.index}_{i}.png" for i in range(n_images)]


def request_images(sample: Sample, protocol: Protocol) -> list[Image.Image]:
    images = sample.images
    names = dump_file_names(sample, len(images), protocol)
    return [as_dumped(image, name) for image, name in zip(images, names, strict=True)]


def max_tiles_per_image(card: BenchmarkCard, n_images: int) -> int:
    """§3.5: the benchmark's cap, reduced to 64 // n for several images, at least 1."""
    if n_images == 0:
        return card.max_tiles
    return max(1, min(card.max_tiles, TOTAL_MAX_TILES // n_images))


# --------------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------------
def build_request(
    sample: Sample,
    card: BenchmarkCard,
    model: ModelCard,
    protocol: Protocol,
    cot: bool,
    images: list[Image.Image] | None = None,
) -> Request:
    """Everything one generation call needs for this row. Pure: reads no files (images are re-encoded
    in memory where the reference would have written them to disk). ``images``: stand-ins for the
    row's images (``vleval.cost`` passes header-only ones, since it needs their sizes alone)."""
    images = request_images(sample, protocol) if images is None else images
    mpo = uses_mpo_prompt(card, model, cot)
    postprocess_mpo = mpo and card.prompt.mpo_postprocess
    # a model's own budget (the reference's wrapper kwarg, e.g. InternVL3_5-241B-A28B) replaces the default
    generation = GenerationSettings(max_new_tokens=model.max_new_tokens or card.max_new_tokens)
    postprocess: Literal["none", "mpo", "think"] = "mpo" if postprocess_mpo else "none"
    system_message = None
    if model.thinking:  # the R1 system prompt, sampled decoding, the reasoning split off the answer
        from vleval.models.internvl.thinking import reference_thinking_settings

        thinking = reference_thinking_settings()
        generation, postprocess = thinking.generation(model.max_new_tokens), "think"
        system_message = thinking.system_prompt
    return Request(
        dataset=card.name,
        index=sample.index,
        text=with_image_placeholders(question_text(sample, card, model, cot), len(images)),
        images=images,
        max_tiles=max_tiles_per_image(card, len(images)),
        upscale_first_image=bool(images) and card.prompt.upscale_first_image,
        generation=generation,
        postprocess=postprocess,
        system_message=system_message,
    )
