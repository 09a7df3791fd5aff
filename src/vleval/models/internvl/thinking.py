"""InternVL3.5 thinking mode as the reference runs it, and how its answers are read.

Reference (VLMEvalKit e8e78f05, protocol 2026.08; the 2024.12 pin has no thinking mode):

- ``vlmeval/config.py``: every ``InternVL3_5-*-Thinking`` entry is the same checkpoint as its plain
  name with ``max_new_tokens=2**16, cot_prompt_version="r1", do_sample=True`` (and ``use_lmdeploy=True``,
  an engine choice, not a setting of the evaluation).
- ``vlmeval/vlm/internvl/internvl_chat.py``: ``cot_prompt_version == 'r1'`` sets the system message to
  ``R1_SYSTEM_PROMPT`` (``data/prompts/r1_system.txt``) and the CoT instruction used under ``USE_COT=1``
  to ``r1_cot.txt``; ``generate_v2`` always passes ``temperature=0.6, top_p=0.95``, which take effect
  once ``do_sample`` is on. Prompts, tiles and post-processing are otherwise those of every V2.0 model.
- ``vlmeval/inference.py`` (with ``SPLIT_THINK`` set, as VLMEvalKit's README recommends for thinking
  models): the prediction becomes the text after the last ``</think>``, stripped; a reply without
  ``</think>`` is kept whole as the prediction.

vleval scores the reference's prediction under the pinned protocol (``reference_prediction``), and
marks as censored a reply without ``</think>`` (the model never reached an answer: what would be scored
is its unfinished reasoning) and a reply cut by the token budget (its answer may be cut too), so that
they are counted and shown beside the score instead of passing for answers (``stats.core.is_censored``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from vleval.models.internvl.prompts import prompt_text
from vleval.types import THINKING_CENSORED, GenerationSettings, RowResult

THINK_END = "</think>"
THINK_START = "<think>"
CensorReason = Literal["no_think_end", "token_limit"]


@dataclass(frozen=True)
class ThinkingSettings:
    """The generation settings of the reference's ``-Thinking`` entries (sources in the module doc)."""

    system_prompt: str
    cot_prompt: str
    max_new_tokens: int = 2**16
    do_sample: bool = True
    temperature: float = 0.6
    top_p: float = 0.95


    def generation(self, max_new_tokens: int | None = None) -> GenerationSettings:
        """The decoding of a thinking request; ``max_new_tokens``: the user's lower budget (--max-new-tokens),
        which the settings record then shows as an override."""
        return GenerationSettings(
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            do_sample=self.do_sample,
            temperature=self.temperature,
            top_p=self.top_p,
        )


def reference_thinking_settings() -> ThinkingSettings:
    return ThinkingSettings(system_prompt=prompt_text("r1_system.txt"), cot_prompt=prompt_text("r1_cot.txt"))


@dataclass(frozen=True)
class ThinkingReply:
    """One thinking-mode reply read as the reference reads it, and whether its answer is censored."""

    reference_prediction: str  # what VLMEvalKit scores: after the last </think>, else the whole reply
    reasoning: str  # what VLMEvalKit stores in its 'thinking' column
    censored: CensorReason | None  # None: a finished answer, scored as any answer

    @property
    def answer(self) -> str | None:
        """The model's answer, or None when there is none to score as such."""
        return None if self.censored else self.reference_prediction


def split_thinking(raw: str, hit_token_limit: bool) -> ThinkingReply:
    """``raw``: the whole decoded reply; ``hit_token_limit``: generation stopped at max_new_tokens."""
    if THINK_END not in raw:
        return ThinkingReply(raw, "", "token_limit" if hit_token_limit else "no_think_end")
    parts = raw.split(THINK_END)
    if len(parts) == 2 and THINK_START in parts[0]:
        reasoning = parts[0].split(THINK_START)[1].strip()
    else:  # several </think> or no <think>: the reference keeps everything before the last one
        reasoning = THINK_END.join(parts[:-1]) + THINK_END
    return ThinkingReply(parts[-1].strip(), reasoning, "token_limit" if hit_token_limit else None)


CENSOR_TEXT = {
    "no_think_end": "without </think> (the reasoning never ended)",
    "token_limit": "cut at the token budget",
}


def mark_row_censored(row: RowResult, reason: str) -> None:
    """Record on a scored row (in place) why its thinking-mode reply is censored."""
    row.extra[THINKING_CENSORED] = reason
    if reason == "token_limit":
        row.hit_token_limit = True


def censored_note(reasons: Mapping[str, str]) -> str:
    """The score record's line for a thinking entry's censored replies: how many, and why."""
    counts = Counter(reasons.values())
    why = "; ".join(f"{n} {CENSOR_TEXT.get(reason, reason)}" for reason, n in sorted(counts.items()))
    return (
        f"{len(reasons)} thinking-mode repl{'y' if len(reasons) == 1 else 'ies'} censored ({why}): scored as "
        "the reference scores them (the text after the last </think>, else the whole reply) and counted "
        "among the censored rows, whose bounds the interval shows"
    )


def mark_censored(row: RowResult, reply: ThinkingReply) -> RowResult:
    """``row`` (scored from ``reply.reference_prediction``, as the reference scores it) with the reply's
    censoring recorded, so statistics count it among the censored rows and report bounds for it."""
    if reply.censored is None:
        return row
    marked = dataclasses.replace(row, extra=dict(row.extra))
    mark_row_censored(marked, reply.censored)
    return marked
