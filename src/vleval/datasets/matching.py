"""Rule-based answer matching as the reference does it, per protocol.

Sources (open-compass/VLMEvalKit): ``vlmeval/utils/matching_util.py`` (``can_infer``,
``can_infer_option``, ``can_infer_text``) and ``vlmeval/smp/misc.py`` (``process_punctuation``,
``cn_string``) at b13a37db (protocol 2024.12) and e8e78f05 (protocol 2026.08). The differences are
protocol quirks: ``MCQ_LAST_FIVE_TOKENS``, ``MCQ_TEXT_LENGTH_CAP``, ``MCQ_ANSWER_IS_REGEX``
(2026.08) and ``PUNCT_PERIOD_AFTER_DIGIT_STRIPPED`` / ``YORN_PERIOD_LIMIT_32`` (punctuation).

The reference's ``VERBOSE`` environment switch ("A might be a quantifier") is not reproduced: it is
off in every reference run we pin, and vleval never reads the environment in scoring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vleval.protocol import Protocol, Quirk
from vleval.types import JUDGE_FAILURE_TEXT

# can_infer_option step 1: a judge failure is never an answer.
_API_FAILURE_MARK = JUDGE_FAILURE_TEXT.removesuffix(". ")  # "Failed to obtain answer via API"
# step 2: refusals read as 'Z' (no option).
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_SPLIT_CHARS = ".()[],:;!*#{}"
# e8e78f05 matching_util.py::_VERBOSE_ANSWER_RE (case-insensitive, so 'answer is blue' -> B)
_ANSWER_IS_RE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
# vleval-1's fix (protocol.QUIRKS[MCQ_ANSWER_IS_REGEX]): 'answer is' in any case, then an upper-case
# letter standing alone, optionally bold or in parentheses; any option letter, not only A-D
_ANSWER_IS_FIXED_RE = re.compile(r"(?i:(?:correct\s+)?answer\s+is)\s*:?\s*\**\(?([A-Z])\)?\**(?![A-Za-z0-9])")

_CJK_RE = re.compile("[\u4e00-\u9fff]")

# smp/misc.py::process_punctuation
_PUNCT = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_PERIOD_STRIP_2024 = re.compile(r"(?!<=\d)(\.)(?!\d)")  # b13a37db: lookahead typo, '5.' loses its period
_PERIOD_STRIP_2026 = re.compile(r"(?<!\d)\.(?!\d)")
_PERIOD_LIMIT = int(re.UNICODE)  # the reference passes re.UNICODE (32) as re.sub's `count`

assert JUDGE_FAILURE_TEXT.startswith(_API_FAILURE_MARK)


def is_failure_text(text: str) -> bool:
    return _API_FAILURE_MARK in text


def cn_string(text: str) -> bool:
    """True when the text contains a CJK ideograph (selects the Chinese MCQ judge prompt)."""
    return bool(_CJK_RE.search(text))


def process_punctuation(text: str, protocol: Protocol) -> str:
    out = text
    has_number_comma = _COMMA_STRIP.search(text) is not None
    for p in _PUNCT:
        if p + " " in text or " " + p in text or has_number_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    pattern = (
        _PERIOD_STRIP_2024 if protocol.has(Quirk.PUNCT_PERIOD_AFTER_DIGIT_STRIPPED) else _PERIOD_STRIP_2026
    )
    count = _PERIOD_LIMIT if protocol.has(Quirk.YORN_PERIOD_LIMIT_32) else 0
    return pattern.sub("", out, count=count)


def can_infer_option(answer: str, choices: Mapping[str, Any], protocol: Protocol) -> str | None:
    """The option letter (or 'Z') read from letter tokens in ``answer``; None when undecided."""
    if _API_FAILURE_MARK in answer:
        return None
    if any(refusal in answer for refusal in _REFUSALS):
        return "Z"
    spaced = answer
    for ch in _SPLIT_CHARS:
        spaced = spaced.replace(ch, " ")
    splits = [token.strip() for token in spaced.split()]
    count = sum(1 for letter in choices if letter in splits)
    if count == 1:
        for letter in choices:
            if letter not in splits:
                continue
            # 2026.08: a lone letter counts only among the last five tokens ('A' as an article)
            if not protocol.has(Quirk.MCQ_LAST_FIVE_TOKENS) or splits.index(letter) > len(splits) - 5:
                return letter
    elif count == 0 and sum(1 for z in ("Z", "") if z in splits) == 1:
        return "Z"
    if protocol.has(Quirk.MCQ_ANSWER_IS_REGEX):
        match = _ANSWER_IS_RE.search(answer)
        if match and match.group(1).upper() in choices:
            return match.group(1).upper()
    elif protocol.fixes(Quirk.MCQ_ANSWER_IS_REGEX):
        match = _ANSWER_IS_FIXED_RE.search(answer)
        if match and match.group(1) in choices:
            return match.group(1)
    return None


def can_infer_text(answer: str, choices: Mapping[str, Any], protocol: Protocol) -> str | None:
    """The one option whose text occurs in ``answer`` (case-insensitive); None otherwise."""
    answer = answer.lower()
    texts = {letter: str(text) for letter, text in choices.items()}
    if protocol.has(Quirk.MCQ_TEXT_LENGTH_CAP) and len(answer) > 2 * sum(len(t) for t in texts.values()):
        return None
    hits = [letter for letter, text in texts.items() if text.lower() in answer]
    return hits[0] if len(hits) == 1 else None


def can_infer(answer: Any, choices: Mapping[str, Any], protocol: Protocol) -> str | None:
    """Option letter, 'Z' (explicitly none of the options), or None (cannot tell: ask a judge)."""
    text = str(answer)
    return can_infer_option(text, choices, protocol) or can_infer_text(text, choices, protocol)
