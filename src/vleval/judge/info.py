"""Which judge graded a result (``vleval.types.JudgeInfo``), and whether it is the protocol's own."""

from __future__ import annotations

from typing import Any

from vleval.protocol import JUDGE_MODEL_IDS
from vleval.transport import redact_url
from vleval.types import JudgeInfo

SUBSTITUTE_LABEL = "substitute judge"


def protocol_judge_model(default_short_name: str | None) -> str | None:
    """The API model id the protocol names for a benchmark (None where its metric is rule-based)."""
    if default_short_name is None:
        return None
    return JUDGE_MODEL_IDS.get(default_short_name, default_short_name)


def judge_info(judge: Any | None, default_short_name: str | None) -> JudgeInfo | None:
    """``JudgeInfo`` of ``judge`` (an ``OpenAIJudge``, a ``LocalJudge`` or anything with ``model``),
    ``substitute`` when it is not the model the protocol names (``default_short_name`` =
    ``default_judge(protocol, card)``): a local judge always is, an API judge when its model id differs
    (another ``--judge``, or ``LOCAL_LLM``); never where the metric is rule-based (no judge decides)."""
    if judge is None:
        return None
    kind = getattr(judge, "kind", "api")
    expected = protocol_judge_model(default_short_name)  # None: a rule-based metric, no judge decides
    if kind == "local":
        return JudgeInfo(
            model=judge.model,
            kind="local",
            endpoint=getattr(judge, "endpoint", None),
            substitute=expected is not None,
        )
    endpoint = getattr(judge, "base_url", None)  # the client keeps it credential-free; made sure here
    return JudgeInfo(
        model=judge.model,
        kind="api",
        endpoint=None if endpoint is None else redact_url(str(endpoint)),
        substitute=expected is not None and judge.model != expected,
    )


def judge_label(info: JudgeInfo | None) -> str:
    """One line naming the judge, flagged when it is a substitute: e.g. ``gpt-4o-mini-2024-07-18`` or
    ``local:Qwen2.5-7B-Instruct@1a2b... (substitute judge: not the protocol's numbers)``."""
    if info is None:
        return "none"
    if info.substitute:
        return f"{info.model} ({SUBSTITUTE_LABEL}: not the protocol's numbers)"
    return info.model
