"""OpenAI-compatible judge client with concurrency, retries and an on-disk cache."""

from vleval.judge.cache import JudgeCache, default_cache_dir
from vleval.judge.client import (
    JudgeChoice,
    JudgeStats,
    JudgeUnavailableWarning,
    OpenAIJudge,
    make_judge,
    resolve_judge,
)
from vleval.judge.settings import JudgeSettings

__all__ = [
    "JudgeCache",
    "JudgeChoice",
    "JudgeSettings",
    "JudgeStats",
    "JudgeUnavailableWarning",
    "OpenAIJudge",
    "default_cache_dir",
    "make_judge",
    "resolve_judge",
]
