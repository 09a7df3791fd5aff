"""The reproduction verdict: is our score consistent with the published figure?

"Consistent with published" when the published value lies inside our 95% interval; otherwise
"differs by X (outside the 95% interval)", followed by the settings that usually explain such a gap
(chain-of-thought, thinking mode where either side used it, judge model, protocol, image tiles,
dtype/backend, benchmark file), each marked
``differs`` where what we ran is known to differ from how the published number was produced (from
the source notes in ``data/published_scores.csv``), ``same`` where it is known to match, and
``unknown`` where the publication does not say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vleval.types import Interval

Status = Literal["differs", "same", "unknown"]

# What the InternVL2.5 publications ran: VLMEvalKit with Hugging Face transformers in bfloat16
# (OpenGVLab/InternVL, document/evaluation of InternVL2.5; VLMEvalKit vlmeval/vlm/internvl), at the
# benchmark's own tile budget, under the reference rules vleval pins as protocol 2024.12.
PUBLISHED_PROTOCOL = "2024.12"
PUBLISHED_BACKEND = "hf"
PUBLISHED_DTYPE = "bfloat16"


@dataclass(frozen=True)
class SettingCheck:
    name: str
    ours: str
    published: str
    status: Status


@dataclass
class ReproductionVerdict:
    consistent: bool | None  # None: no interval or no published figure
    text: str
    checks: list[SettingCheck] = field(default_factory=list)

    @property
    def differing(self) -> list[SettingCheck]:
        return [c for c in self.checks if c.status == "differs"]


@dataclass(frozen=True)
class OurSettings:
    """How our number was produced (from run.json and the ScoreRecord); None = not recorded."""

    cot: bool | None = None
    judge: str | None = None
    protocol: str | None = None
    backend: str | None = None
    dtype: str | None = None
    max_tiles_override: int | None = None  # None: the benchmark's own budget
    max_new_tokens_override: int | None = None  # None: the benchmark's own budget
    rule_only: bool = False  # the protocol names a judge that was not used
    md5_matches: bool | None = None  # the benchmark file is the one the protocol pins
    best_of_direct_and_cot: bool = False  # the score is the better of a direct and a CoT run
    thinking: bool | None = None  # an InternVL3.5 -Thinking entry's run (thinking mode); None: not recorded


def reproduction_verdict(
    ours: float | None,
    interval: Interval | None,
    published: float | None,
    *,
    published_cot: str = "",
    published_metric: str = "",
    settings: OurSettings | None = None,
) -> ReproductionVerdict:
    """Our headline and interval against a published figure (all on the 0-100 scale)."""
    if ours is None or published is None:
        return ReproductionVerdict(None, "no published figure" if published is None else "not scored")
    checks = setting_checks(settings or OurSettings(), published_cot, published_metric)
    if interval is None:
        return ReproductionVerdict(None, f"differs by {ours - published:+.2f} (no interval)", checks)
    if interval.low <= published <= interval.high:
        return ReproductionVerdict(True, "consistent with published", checks)
    level = f"{interval.level:.0%}"
    return ReproductionVerdict(
        False, f"differs by {ours - published:+.2f} (outside the {level} interval)", checks
    )


def setting_checks(settings: OurSettings, published_cot: str, published_metric: str) -> list[SettingCheck]:
    thinking = _thinking_check(settings.thinking, published_cot)
    return [
        _cot_check(settings.cot, published_cot, settings.best_of_direct_and_cot),
        *([thinking] if thinking is not None else []),
        _judge_check(settings.judge, published_metric),
        _known(
            "protocol",
            settings.protocol,
            PUBLISHED_PROTOCOL,
            "the reference's rules when the figures were published",
        ),
        SettingCheck(
            "image tiles",
            "benchmark default" if settings.max_tiles_override is None else str(settings.max_tiles_override),
            "benchmark default (unstated)",
            "unknown" if settings.max_tiles_override is None else "differs",
        ),
        SettingCheck(
            "token budget",
            "benchmark default"
            if settings.max_new_tokens_override is None
            else str(settings.max_new_tokens_override),
            "benchmark default",
            "same" if settings.max_new_tokens_override is None else "differs",
        ),
        SettingCheck(
            "judge used",
            "rule-only (the protocol's judge was not used)" if settings.rule_only else "as the protocol",
            "as the protocol",
            "differs" if settings.rule_only else "same",
        ),
        _known("backend", settings.backend, PUBLISHED_BACKEND, "Hugging Face transformers"),
        _known("dtype", settings.dtype, PUBLISHED_DTYPE, PUBLISHED_DTYPE),
        SettingCheck(
            "benchmark file md5",
            {True: "the protocol's file", False: "a different file", None: "not checked"}[
                settings.md5_matches
            ],
            "the protocol's file",
            {True: "same", False: "differs", None: "unknown"}[settings.md5_matches],
        ),
    ]


def _known(name: str, ours: str | None, published: str, published_text: str) -> SettingCheck:
    if ours is None:
        return SettingCheck(name, "not recorded", published_text, "unknown")
    return SettingCheck(name, ours, published_text, "same" if ours == published else "differs")


def _cot_check(cot: bool | None, published_cot: str, best_of_both: bool = False) -> SettingCheck:
    ours = (
        "best of direct and CoT runs"
        if best_of_both
        else {True: "on", False: "off", None: "not recorded"}[cot]
    )
    text = published_cot or "unstated"
    if "max(direct, CoT)" in text:
        # the better of a direct and a CoT run: a single run of either kind may fall below it
        return SettingCheck("CoT", ours, "best of direct and CoT runs", "same" if best_of_both else "differs")
    if "USE_COT=1" in text:
        status: Status = "unknown" if cot is None else ("same" if cot else "differs")
        return SettingCheck("CoT", ours, "unstated; the evaluation recipe sets USE_COT=1", status)
    return SettingCheck("CoT", ours, "unstated", "unknown")


# how data/published_scores.csv's cot column starts for a figure the sources say was made in thinking mode
PUBLISHED_THINKING = "thinking mode"


def _thinking_check(thinking: bool | None, published_cot: str) -> SettingCheck | None:
    """Thinking mode (InternVL3.5), said only where one side used it: a figure made in thinking mode
    (the InternVL3.5 report's reasoning table), or a thinking run against a figure whose sources do not
    say so. None where neither did, so older figures' checklists stay as they were."""
    published_thinking = published_cot.startswith(PUBLISHED_THINKING)
    if not published_thinking and not thinking:
        return None
    ours = {True: "on", False: "off", None: "not recorded"}[thinking]
    if not published_thinking:
        return SettingCheck("thinking mode", ours, "unstated", "unknown")
    status: Status = "unknown" if thinking is None else ("same" if thinking else "differs")
    return SettingCheck(
        "thinking mode", ours, "on (as the sources say; see the figure's source notes)", status
    )


def _judge_check(judge: str | None, published_metric: str) -> SettingCheck:
    lowered = published_metric.lower()
    if "gpt-4-turbo" in lowered or "gpt-4 turbo" in lowered:
        if judge is None:
            return SettingCheck("judge", "not recorded", "gpt-4-turbo", "unknown")
        return SettingCheck("judge", judge, "gpt-4-turbo", "same" if "gpt-4-turbo" in judge else "differs")
    return SettingCheck("judge", judge or "none", "unstated", "unknown")
