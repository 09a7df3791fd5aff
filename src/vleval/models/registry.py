"""The model cards: the 14 InternVL2.5 checkpoints (7 sizes, each plain and -MPO) declared here, then
the InternVL3 and InternVL3.5 checkpoints (``internvl3_cards.py``, with their sources).

Sources: ``docs/model-protocol.md`` (names as VLMEvalKit ``vlmeval/config.py`` registers
them, repo ids, LLM family, LLM layer counts) and InternVL's evaluation guide for InternVL2.5 (IV ``internvl_chat/eval``) (parameter
counts and download sizes from its "Model Preparation" table; 8 GPUs per task for 38B and 78B from its
launch script, which spells the names ``InternVL2-5-8B``: accepted here as aliases).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from vleval.errors import VlevalError
from vleval.models.internvl3_cards import internvl3_cards, unsupported_reason
from vleval.types import LLMFamily, ModelCard


@dataclass(frozen=True)
class _Size:
    size: str  # "8B"
    llm_family: LLMFamily
    params: str
    download_gb: float
    llm_layers: int
    gpus_per_task: int = 1


_SIZES = (
    _Size("1B", "qwen2", "0.9B", 1.8, 24),
    _Size("2B", "internlm2", "2.2B", 4.2, 24),
    _Size("4B", "qwen2", "4.2B", 7.8, 36),
    _Size("8B", "internlm2", "8.1B", 16.0, 32),
    _Size("26B", "internlm2", "25.5B", 48.0, 48),
    _Size("38B", "qwen2", "40.1B", 75.0, 64, gpus_per_task=8),
    _Size("78B", "qwen2", "76.3B", 143.0, 80, gpus_per_task=8),
)


def _card(size: _Size, mpo: bool) -> ModelCard:
    suffix = f"{size.size}-MPO" if mpo else size.size
    return ModelCard(
        name=f"InternVL2_5-{suffix}",
        repo_id=f"OpenGVLab/InternVL2_5-{suffix}",
        llm_family=size.llm_family,
        params=size.params,
        download_gb=size.download_gb,
        gpus_per_task=size.gpus_per_task,
        llm_layers=size.llm_layers,
        mpo=mpo,
        aliases=(f"InternVL2-5-{suffix}",),
    )


MODELS: dict[str, ModelCard] = {
    card.name: card for size in _SIZES for card in (_card(size, mpo=False), _card(size, mpo=True))
}
MODELS.update((card.name, card) for card in internvl3_cards())

# Every spelling a user may type -> canonical name: the name, its aliases and the repo id, matched
# exactly first and then ignoring case.
_LOOKUP: dict[str, str] = {
    key: card.name for card in MODELS.values() for key in (card.name, card.repo_id, *card.aliases)
}
_LOOKUP_CASELESS: dict[str, str] = {key.casefold(): name for key, name in _LOOKUP.items()}


# --------------------------------------------------------------------------------------------------
# What a checkpoint of each model must look like (``vleval.models.verify`` checks a folder against it).
# Only facts of the published ``config.json`` files are recorded here: the top architecture and the
# LLM class (the ``llm_family`` above), LLM depth (the table above), the vision tower (InternViT-300M
# for 1B-8B: hidden 1024, 24 layers, 16 heads; InternViT-6B for 26B-78B: hidden 3200, 25 heads,
# layer count left unchecked), and the LLM sizes (hidden, heads, KV heads, vocabulary) of the 1B, 2B
# and 4B configs (``llm_config`` of OpenGVLab/InternVL2_5-{1B,2B,4B}/config.json) and the 8B's hidden
# size. A fact left None is not checked. The parameter count is the printed
# one above (rounded to 0.1B, and counted differently by the source document), so a checkpoint whose
# tensors add up to within ``PARAMS_TOLERANCE`` of it passes.
# --------------------------------------------------------------------------------------------------
MODEL_ARCHITECTURE = "InternVLChatModel"
LLM_ARCHITECTURES = {"qwen2": "Qwen2ForCausalLM", "internlm2": "InternLM2ForCausalLM"}
PARAMS_TOLERANCE = 0.2  # relative


@dataclass(frozen=True)
class ModelStructure:
    """What a checkpoint's ``config.json`` and tensors must say to be the named model."""

    architecture: str
    llm_architecture: str
    llm_layers: int
    vision_hidden: int
    vision_heads: int
    vision_layers: int | None = None
    llm_hidden: int | None = None
    llm_heads: int | None = None
    llm_kv_heads: int | None = None
    vocab_size: int | None = None
    params: float | None = None  # billions, as printed


# size -> (LLM hidden, heads, KV heads, vocabulary) where the project checked them
_LLM_SIZES: dict[str, tuple[int, int, int, int]] = {
    "1B": (896, 14, 2, 151674),
    "2B": (2048, 16, 8, 92553),
    "4B": (2048, 16, 2, 151674),
}


def structure_of(card: ModelCard) -> ModelStructure | None:
    """The registry's facts for a registered model (None for a model the registry does not know)."""
    size = next(
        (s for s in _SIZES if card.name in (f"InternVL2_5-{s.size}", f"InternVL2_5-{s.size}-MPO")), None
    )
    if size is None:
        return None
    small_tower = size.size in ("1B", "2B", "4B", "8B")
    llm = _LLM_SIZES.get(size.size, (None, None, None, None))
    return ModelStructure(
        architecture=MODEL_ARCHITECTURE,
        llm_architecture=LLM_ARCHITECTURES[size.llm_family],
        llm_layers=size.llm_layers,
        vision_hidden=1024 if small_tower else 3200,
        vision_heads=16 if small_tower else 25,
        vision_layers=24 if small_tower else None,
        llm_hidden=llm[0] if size.size != "8B" else 4096,
        llm_heads=llm[1],
        llm_kv_heads=llm[2],
        vocab_size=llm[3],
        params=float(size.params.rstrip("B")),
    )


def get_model(name: str) -> ModelCard:
    """The card for a model name, an alias (``InternVL2-5-8B``) or a repo id (``OpenGVLab/InternVL2_5-8B``)."""
    canonical = _LOOKUP.get(name) or _LOOKUP_CASELESS.get(name.strip().casefold())
    if canonical is not None:
        return MODELS[canonical]
    close = difflib.get_close_matches(name, list(_LOOKUP), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise VlevalError(
        f"unknown model {name!r}.{hint} Known models: {', '.join(MODELS)} "
        "(the spelling InternVL2-5-8B and repo ids like OpenGVLab/InternVL2_5-8B are accepted too)."
    )


def check_supported(card: ModelCard) -> None:
    """Refuse, in one line, a card vleval cannot evaluate (an LLM without a native transformers class, a
    -Thinking entry); called before anything is downloaded or loaded."""
    reason = unsupported_reason(card)
    if reason is not None:
        raise VlevalError(f"{card.name} {reason}.")
