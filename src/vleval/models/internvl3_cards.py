"""Cards of the InternVL3 (April 2025) and InternVL3.5 (August 2025) checkpoints.

Sources (each fact below names one of them):

- [IV3-EVAL] InternVL's evaluation guide for InternVL3 (docs ``internvl3.0/evaluation.md``, as in
  github.com/ErfeiCui/InternVL-doc at 702ac8ea): "Model Preparation" table (params 0.9B ... 78.4B,
  download sizes 1.8 ... 152 GB) and its launch script (``GPUS_PER_TASK=8`` for 38B and 78B, else 1;
  datasets MMBench_TEST_EN_V11 MMStar MMMU_DEV_VAL MathVista_MINI HallusionBench AI2D_TEST OCRBench MMVet;
  "You need to set ``USE_COT="1"``").
- [IV-README] InternVL's README "Model Zoo", github.com/OpenGVLab/InternVL at 2410d1db: the InternVL3
  table (vision part, language part: Qwen2.5-0.5B ... Qwen2.5-72B, internlm3-8b-instruct for 9B) and the
  InternVL3.5 tables (GitHub format and HuggingFace format, "-HF" repos; vision / language / total params).
- [IV-3.5-CARD] the InternVL3.5 model cards on the Hub (OpenGVLab/InternVL3_5-*): the LLM each size is
  built on (Qwen3-0.6B/1.7B/4B/8B/14B/32B dense, Qwen3-30B-A3B and Qwen3-235B-A22B MoE, GPT-OSS-20B for
  the 20B-A4B) and the released stages -Pretrained, -Instruct, -MPO beside the final checkpoint.
- [IV-MPO-SH] InternVL ``internvl_chat/shell/internvl3.0/mpo/internvl3_*_mpo.sh`` at 2410d1db: each InternVL3
  MPO run starts from ``OpenGVLab/InternVL3-{size}-Instruct`` (so -Instruct exists for all seven sizes).
- [HUB-TREE] the Hub file listings of OpenGVLab/InternVL3-{1B,8B,9B}, InternVL3-{2B,8B,14B,78B}-hf,
  InternVL3-{14B,38B,78B}-{Instruct,Pretrained} and InternVL3_5-8B: repo size 17.1 GB (InternVL3_5-8B; the
  InternVL3 sizes agree with [IV3-EVAL]: 15.9 GB for InternVL3-8B and -8B-hf); the InternVL3
  transformers-native repos are spelled ``-hf`` (lower case), the InternVL3.5 ones ``-HF``.
- [VK-CONFIG] VLMEvalKit ``vlmeval/config.py`` at e8e78f05 (the 2026.08 pin): the names ``InternVL3-{size}``,
  ``InternVL3_5-{size}`` and ``InternVL3_5-GPT-OSS-20B-A4B-Preview``, all ``version="V2.0"``, none with
  ``use_mpo_prompt`` (so ``mpo`` is False on every card here).
- [QWEN-CONFIG] ``num_hidden_layers`` of the LLMs' own ``config.json`` (Qwen2.5: 0.5B 24, 1.5B 28, 7B 28,
  14B 48, 32B 64, 72B 80; Qwen3: 0.6B 28, 1.7B 28, 4B 36, 8B 36, 14B 40, 32B 64, 30B-A3B 48,
  235B-A22B 94; internlm3-8b-instruct 48; gpt-oss-20b 24).

Derived, not published (stated so that nobody takes them for measurements):

- InternVL3.5 ``download_gb`` where [HUB-TREE] has no size: 2 bytes per parameter (bf16) of the total.
- InternVL3.5 ``gpus_per_task``: 8 when the bf16 weights exceed 60 GB, else 1 (the InternVL2.5 and
  InternVL3 guides run 26B = 48 GB on one GPU and 38B/78B on eight; the same line is drawn here; it gives
  [IV3-EVAL]'s values for InternVL3).

Not listed: AWQ/quantised repos (not the evaluated weights) and InternVL3-9B-hf, which the sources
above do not show.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vleval.types import LLMFamily, ModelCard


@dataclass(frozen=True)
class _Base:
    name: str  # VLMEvalKit name [VK-CONFIG]
    readme_name: str  # as InternVL's README spells it, accepted as an alias
    generation: str
    llm_family: LLMFamily
    base_llm: str
    params_b: float  # total parameters in billions ([IV3-EVAL], [IV-README])
    llm_layers: int
    download_gb: float | None = None  # [IV3-EVAL] / [HUB-TREE] where recorded, else derived
    variants: tuple[str, ...] = ()  # released stage suffixes besides the final checkpoint
    hf_suffix: str = ""  # the transformers-native repo's suffix, "" when none is listed
    max_new_tokens: int | None = None  # [VK-CONFIG] kwarg, where the entry sets one


_V3 = ("-Instruct", "-Pretrained")  # [IV-MPO-SH], [HUB-TREE]
_V35 = ("-Instruct", "-MPO", "-Pretrained")  # [IV-3.5-CARD]

_BASES = (
    # InternVL3 [IV-README]: InternViT-300M-448px-V2_5 (6B-448px-V2_5 for 38B/78B) + the LLM named;
    # params and sizes [IV3-EVAL].
    _Base("InternVL3-1B", "InternVL3-1B", "3", "qwen2", "Qwen2.5-0.5B", 0.9, 24, 1.8, _V3, "-hf"),
    _Base("InternVL3-2B", "InternVL3-2B", "3", "qwen2", "Qwen2.5-1.5B", 2.1, 28, 4.2, _V3, "-hf"),
    _Base("InternVL3-8B", "InternVL3-8B", "3", "qwen2", "Qwen2.5-7B", 7.9, 28, 15.9, _V3, "-hf"),
    _Base("InternVL3-9B", "InternVL3-9B", "3", "internlm3", "internlm3-8b-instruct", 9.1, 48, 18.3, _V3),
    _Base("InternVL3-14B", "InternVL3-14B", "3", "qwen2", "Qwen2.5-14B", 15.1, 48, 30.2, _V3, "-hf"),
    _Base("InternVL3-38B", "InternVL3-38B", "3", "qwen2", "Qwen2.5-32B", 38.4, 64, 76.8, _V3, "-hf"),
    _Base("InternVL3-78B", "InternVL3-78B", "3", "qwen2", "Qwen2.5-72B", 78.4, 80, 152.0, _V3, "-hf"),
    # InternVL3.5 [IV-README] totals, [IV-3.5-CARD] LLMs.
    _Base("InternVL3_5-1B", "InternVL3.5-1B", "3.5", "qwen3", "Qwen3-0.6B", 1.1, 28, None, _V35, "-HF"),
    _Base("InternVL3_5-2B", "InternVL3.5-2B", "3.5", "qwen3", "Qwen3-1.7B", 2.3, 28, None, _V35, "-HF"),
    _Base("InternVL3_5-4B", "InternVL3.5-4B", "3.5", "qwen3", "Qwen3-4B", 4.7, 36, None, _V35, "-HF"),
    _Base("InternVL3_5-8B", "InternVL3.5-8B", "3.5", "qwen3", "Qwen3-8B", 8.5, 36, 17.1, _V35, "-HF"),
    _Base("InternVL3_5-14B", "InternVL3.5-14B", "3.5", "qwen3", "Qwen3-14B", 15.1, 40, None, _V35, "-HF"),
    _Base("InternVL3_5-38B", "InternVL3.5-38B", "3.5", "qwen3", "Qwen3-32B", 38.4, 64, None, _V35, "-HF"),
    _Base(
        "InternVL3_5-GPT-OSS-20B-A4B-Preview",
        "InternVL3.5-20B-A4B",
        "3.5",
        "gpt_oss",
        "gpt-oss-20b",
        21.2,
        24,
        None,
        (),
        "-HF",
    ),
    _Base(
        "InternVL3_5-30B-A3B",
        "InternVL3.5-30B-A3B",
        "3.5",
        "qwen3_moe",
        "Qwen3-30B-A3B",
        30.8,
        48,
        None,
        _V35,
        "-HF",
    ),
    _Base(
        "InternVL3_5-241B-A28B",
        "InternVL3.5-241B-A28B",
        "3.5",
        "qwen3_moe",
        "Qwen3-235B-A22B",
        240.7,
        94,
        None,
        _V35,
        "-HF",
        max_new_tokens=16384,  # [VK-CONFIG]: the only InternVL3/3.5 entry with its own budget
    ),
)

SOURCE = "models/internvl3_cards.py ([IV3-EVAL], [IV-README], [IV-3.5-CARD], [VK-CONFIG])"


def _params(base: _Base) -> str:
    if base.llm_family in ("qwen3_moe", "gpt_oss"):  # total and active, as the README prints them
        return f"{base.params_b:g}B-{base.readme_name.rsplit('-', 1)[-1]}"
    return f"{base.params_b:g}B"


def _budget(base: _Base, suffix: str, hf_format: bool) -> int | None:
    """The [VK-CONFIG] entry's ``max_new_tokens`` for the checkpoint it registers and for the -HF repo of
    the same weights, which vleval evaluates as that checkpoint (the reference never loads the -HF layout,
    so its twin's entry is the protocol); None (the benchmark's budget) for the released stages, other
    weights that VLMEvalKit does not register."""
    return base.max_new_tokens if suffix == "" or hf_format else None


def _card(base: _Base, suffix: str, hf_format: bool = False) -> ModelCard:
    weights_gb = round(2 * base.params_b, 1)
    download_gb = base.download_gb if base.download_gb is not None else weights_gb  # stages: same weights
    aliases = (base.readme_name + suffix,) if base.readme_name != base.name else ()
    return ModelCard(
        name=base.name + suffix,
        repo_id=f"OpenGVLab/{base.name}{suffix}",
        llm_family=base.llm_family,
        params=_params(base),
        download_gb=download_gb,
        gpus_per_task=8 if weights_gb > 60 else 1,
        llm_layers=base.llm_layers,
        mpo=False,  # [VK-CONFIG]: no InternVL3/3.5 entry sets use_mpo_prompt
        aliases=aliases,
        generation=base.generation,
        base_llm=base.base_llm,
        hf_format=hf_format,
        source=SOURCE,
        max_new_tokens=_budget(base, suffix, hf_format),
    )


def _thinking_card(base: _Base) -> ModelCard:
    """[VK-CONFIG]'s ``<name>-Thinking`` entry: the same checkpoint with ``cot_prompt_version="r1"``,
    ``do_sample=True`` and ``max_new_tokens=2**16`` (settings: ``internvl/thinking.py``)."""
    plain = _card(base, "")
    return dataclasses.replace(
        plain,
        name=plain.name + "-Thinking",
        aliases=tuple(alias + "-Thinking" for alias in plain.aliases),
        max_new_tokens=2**16,
        thinking=True,
    )


def internvl3_cards() -> list[ModelCard]:
    """Every card, generation by generation: the final checkpoint, its released stages, its -HF twin,
    and for InternVL3.5 the reference's thinking-mode entry."""
    cards: list[ModelCard] = []
    for base in _BASES:
        cards.append(_card(base, ""))
        cards.extend(_card(base, suffix) for suffix in base.variants)
        if base.hf_suffix:
            cards.append(_card(base, base.hf_suffix, hf_format=True))
        if base.generation == "3.5":
            cards.append(_thinking_card(base))
    return cards


# Why a card cannot be loaded yet, by LLM family (either layout): one line each, shown before anything is
# downloaded or run. vleval never runs a checkpoint's own code, so an LLM needs a transformers class
# (GPT-OSS has one, GptOssForCausalLM: InternVL3.5-GPT-OSS loads, internvl/llm.py).
UNSUPPORTED_FAMILIES = {
    "internlm3": (
        "is built on InternLM3 (internlm3-8b-instruct), for which transformers has no native model class; "
        "vleval does not run the checkpoint's own code, so it cannot be evaluated yet"
    ),
}


def unsupported_reason(card: ModelCard) -> str | None:
    """Why ``card`` cannot be evaluated, or None when it can (an -HF card loads through transformers'
    ``InternVLForConditionalGeneration``, ``internvl/hf_native.py``, when its LLM has a native class)."""
    if card.llm_family in UNSUPPORTED_FAMILIES:
        return UNSUPPORTED_FAMILIES[card.llm_family]
    return None
