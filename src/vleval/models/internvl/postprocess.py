"""Answer post-processing the reference applies to the model's text before scoring.

- ``mpo``: VLMEvalKit ``vlmeval/vlm/internvl/utils.py::mpo_post_processing`` (b13a37db, e8e78f05),
  applied for -MPO models when the MPO prompt was used on a MCQ, Y/N or CRPE benchmark
  (``docs/model-protocol.md``; ``prompts.build_request`` decides).
- ``boxed``: ``vlmeval/vlm/internvl/internvl_chat.py::extract_boxed_content`` (e8e78f05), used by the
  reference only with ``use_postprocess=True``, which no InternVL2.5 entry sets (§5).
- ``think``: ``vlmeval/inference.py`` with ``SPLIT_THINK`` (e8e78f05), for the InternVL3.5 thinking
  entries: the text after the last ``</think>`` (``internvl/thinking.py::split_thinking``).
- ``none``: the text as generated.
"""

from __future__ import annotations

import re

# First match anywhere; ``\s*`` may cross newlines, ``(.*)`` stops at the end of its line.
_FINAL_ANSWER = re.compile(r"(Final answer:|Answer:)\s*(.*)", re.IGNORECASE)
_BOXED = "\\boxed{"


def extract_final_answer(text: str) -> str:
    """What follows the first 'Final answer:' or 'Answer:' (any case) on its line, stripped; the whole
    text, stripped, when there is none."""
    match = _FINAL_ANSWER.search(text)
    return (match.group(2) if match else text).strip()


def extract_boxed(text: str) -> str:
    """The content of the last ``\\boxed{...}`` with nested braces matched; the whole text if there is
    none or its braces never close."""
    start = text.rfind(_BOXED)
    if start == -1:
        return text
    start += len(_BOXED)
    depth = 1
    for position in range(start, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[start:position]
    return text


def after_thinking(text: str) -> str:
    from vleval.models.internvl.thinking import split_thinking

    return split_thinking(text, hit_token_limit=False).reference_prediction


POSTPROCESSORS = {
    "none": lambda text: text,
    "think": after_thinking,
    "mpo": extract_final_answer,
    "boxed": extract_boxed,
}


def postprocess(kind: str, text: str) -> str:
    processor = POSTPROCESSORS.get(kind)
    if processor is None:
        raise ValueError(f"unknown post-processing {kind!r}; known: {', '.join(POSTPROCESSORS)}")
    return processor(text)
