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
    """Refuse, in one line, a card vleval cannot evaluate (an LLM without a native transformers class,
    the -HF layout); called before anything is downloaded or loaded."""
    reason = unsupported_reason(card)
    if reason is not None:
        raise VlevalError(f"{card.name} {reason}.")
