"""The LLM judge: an OpenAI-compatible chat client (``vleval.transport``) with an answer cache.

Request body as the reference's ``OpenAIWrapper`` (VLMEvalKit b13a37db, ``vlmeval/api/gpt.py``):
``{model, messages, temperature, max_tokens}``, messages = optional system message (plain string),
then one user message whose content is ``[{"type": "text", "text": prompt}]``. ``n=1`` is sent only
to openai.com, as the reference does from e8e78f05 on (some self-hosted servers reject ``n``); it
does not change the answer and is not part of the cache key.

Failures of single requests never raise: a request whose attempts all failed yields
``JUDGE_FAILURE_TEXT`` (the reference's ``fail_msg``), is counted in ``stats.failures`` and is not
cached, so a re-run asks only those requests again. A successful answer never equals that text
(like the reference, an answer that is empty or contains it counts as a failed attempt), so
``answer == JUDGE_FAILURE_TEXT`` is exactly "this request's judge call failed". ``retries`` counts
attempts, as the reference's ``for i in range(self.retry)`` does. A judge that refuses the key
(401/403) or stops answering (``max_consecutive_timeouts`` attempts in a row) raises
``vleval.errors.JudgeUnavailableError`` instead: every further request would fail the same way.

Environment variables are read only in ``resolve_judge`` (the edge), never by the client:
``OPENAI_API_KEY``, ``OPENAI_API_BASE`` (the full ``.../chat/completions`` URL, as the reference
expects, or a ``.../v1`` base) and ``LOCAL_LLM`` (replaces the API model id of every judge, as the
reference's ``build_judge`` does). The API key is never printed, logged, written or shown in a repr.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vleval.errors import EndpointUnavailableError, JudgeUnavailableError
from vleval.judge.cache import JudgeCache, cache_key
from vleval.judge.local import is_local_judge_spec, local_judge
from vleval.judge.settings import JudgeSettings
from vleval.protocol import JUDGE_MODEL_IDS
from vleval.transport import (
    DEFAULT_MAX_CONSECUTIVE_TIMEOUTS,
    DEFAULT_RETRY_BUDGET_S,
    DEFAULT_TIMEOUT_S,
    BadReply,
    OpenAIEndpoint,
    describe_shape,
    reply_text,
    run_concurrently,
)
from vleval.types import JUDGE_FAILURE_TEXT, Judge, JudgeRequest

log = logging.getLogger("vleval.judge")

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_JUDGE_SPECS = frozenset({"none", "exact_matching"})


class JudgeUnavailableWarning(UserWarning):
    """A judge was wanted but cannot be built (no API key and no base URL)."""


@dataclass
class JudgeStats:
    """A judge's tally so far (for run.json and the failure message).

    ``calls``: HTTP attempts sent; ``cache_hits``: requests answered from the cache; ``answered``:
    requests answered by the API (and cached); ``failures``: requests that got ``JUDGE_FAILURE_TEXT``;
    tokens: summed from the replies' ``usage``; ``last_error``: scrubbed of secrets."""

    calls: int = 0
    cache_hits: int = 0
    answered: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_request_body(request: JudgeRequest) -> dict[str, Any]:
    """The chat-completions body for one request, without ``model`` (as the reference builds it); with
    the judge's model id, what the judge cache keys an answer by (the local judge's too)."""
    messages: list[dict[str, Any]] = []
    if request.system is not None:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": [{"type": "text", "text": request.prompt}]})
    return {"messages": messages, "temperature": request.temperature, "max_tokens": request.max_tokens}


def judge_answer_text(response: Any) -> str:
    """The judge's answer in a chat completion, or ``BadReply`` when it has none. As the
    reference, an empty answer or one containing the failure text is a failed attempt."""
    text = reply_text(response)
    if text is None:
        raise BadReply(f"no answer text ({describe_shape(response)})")
    answer = text.strip()
    if not answer:
        raise BadReply("empty answer")
    if JUDGE_FAILURE_TEXT.strip() in answer:
        raise BadReply("the answer is the failure text")
    return answer


class OpenAIJudge:
    """An OpenAI-compatible judge implementing ``vleval.types.Judge``."""

    kind = "api"

    def __init__(
        self,
        model: str,
        *,
        short_name: str | None = None,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        workers: int = 16,
        retries: int = 6,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry_budget_s: float = DEFAULT_RETRY_BUDGET_S,
        max_consecutive_timeouts: int = DEFAULT_MAX_CONSECUTIVE_TIMEOUTS,
        cache: JudgeCache | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        progress: bool = True,  # shown under the console policy (vleval.console)
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if retries < 1:
            raise ValueError(f"retries (attempts per request) must be at least 1, got {retries}")
        self.model = model
        self.short_name = short_name or model
        self.endpoint = OpenAIEndpoint(
            base_url,
            api_key,
            what=f"judge {model}",
            attempts=retries,
            timeout_s=timeout,
            retry_budget_s=retry_budget_s,
            max_consecutive_timeouts=max_consecutive_timeouts,
            backoff_base_s=backoff_base,
            backoff_cap_s=backoff_cap,
        )
        self.base_url = self.endpoint.base_url  # credentials removed: safe to record
        self.workers = workers
        self.retries = retries
        self.timeout = timeout
        self.cache = cache
        self.progress = progress
        self._send_n = "openai.com" in self.base_url
        self._lock = threading.Lock()
        self._cache_hits = 0
        self._answered = 0
        self._failures = 0

    def __repr__(self) -> str:
        return (
            f"OpenAIJudge(model={self.model!r}, short_name={self.short_name!r}, base_url={self.base_url!r}, "
            f"workers={self.workers}, retries={self.retries}, timeout={self.timeout}, cache={self.cache!r})"
        )

    @property
    def stats(self) -> JudgeStats:
        """A snapshot of the tally."""
        calls = self.endpoint.stats
        with self._lock:
            return JudgeStats(
                calls=calls.calls,
                cache_hits=self._cache_hits,
                answered=self._answered,
                failures=self._failures,
                prompt_tokens=calls.prompt_tokens,
                completion_tokens=calls.completion_tokens,
                last_error=calls.last_error,
            )

    # ---------------------------------------------------------------------------------------------
    # Public API
    # ---------------------------------------------------------------------------------------------
    def request_body(self, request: JudgeRequest) -> dict[str, Any]:
        return judge_request_body(request)

    def ask(self, request: JudgeRequest) -> str:
        return self.ask_many([request])[0]

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]:
        """One answer per request, in order. Cached answers are reused; identical requests in one
        batch are asked once; the rest go to the API from ``workers`` threads. Raises
        ``JudgeUnavailableError`` when the judge refuses the key or stops answering."""
        bodies = [self.request_body(r) for r in requests]
        keys = [cache_key(self.model, b) for b in bodies]
        answers: dict[str, str] = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache else {}
        with self._lock:
            self._cache_hits += sum(1 for k in keys if k in answers)
        todo = {k: b for k, b in zip(keys, bodies, strict=True) if k not in answers}
        if todo:
            answers.update(self._ask_uncached(todo))
        return [answers[k] for k in keys]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    # ---------------------------------------------------------------------------------------------
    # Internals
    # ---------------------------------------------------------------------------------------------
    def _ask_uncached(self, todo: dict[str, dict[str, Any]]) -> dict[str, str]:
        from vleval.console import bar as progress_bar

        items = list(todo.items())
        bar = progress_bar(
            total=len(items), desc=f"judge {self.short_name}", unit="call", enabled=self.progress
        )
        try:
            answers = run_concurrently(
                self._ask_and_store, items, self.workers, name="judge", on_done=bar.update
            )
        except EndpointUnavailableError as err:
            # Every answer received so far is already cached: a re-run asks only the rest.
            stats = self.stats
            raise JudgeUnavailableError(
                f"{err} (answers received so far are cached: {stats.answered}; re-running asks only "
                "the rest). Check the judge's address and key (--judge-base-url, OPENAI_API_BASE, "
                "OPENAI_API_KEY), or use --judge none where the protocol allows it."
            ) from None
        finally:
            bar.close()
        return {key: answer for (key, _), answer in zip(items, answers, strict=True)}

    def _ask_and_store(self, item: tuple[str, dict[str, Any]]) -> str:
        # Stored by the worker the moment it arrives, so that a kill loses no received answer.
        key, body = item
        extra = {"n": 1} if self._send_n else {}
        outcome = self.endpoint.chat({"model": self.model, **body, **extra}, judge_answer_text)
        if outcome.value is None:
            with self._lock:
                self._failures += 1
            log.warning(
                "judge %s: no answer after %d attempt(s): %s", self.model, outcome.attempts, outcome.error
            )
            return JUDGE_FAILURE_TEXT
        answer = self.endpoint.remove_secrets(outcome.value)  # an endpoint echoing the key stores none
        with self._lock:
            self._answered += 1
        if self.cache is not None:
            self.cache.put(key, self.model, body, answer)
        return answer


# -------------------------------------------------------------------------------------------------
# Building a judge from user input (CLI flags, environment): the one entry point, resolve_judge
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeChoice:
    """The judge to use, or None and why not."""

    judge: Judge | None
    reason: str | None = None  # set when judge is None
    missing_credentials: bool = False  # a judge was wanted but no key/base URL was found


def resolve_judge(
    spec: str | None,
    default_short_name: str | None,
    settings: JudgeSettings | None = None,
    **options: Any,
) -> JudgeChoice:
    """The judge for a benchmark, or None and why: the single place that turns a ``--judge`` spec
    into a judge.

    ``spec``: the user's ``--judge`` (a short name such as ``gpt-4o-mini``, an API model id, a local
    ``local:DIR``, or ``none`` / ``exact_matching``); None means ``default_short_name``
    (``default_judge(protocol, card)``). Short names map to API ids through ``vleval.protocol.JUDGE_MODEL_IDS``;
    other names are used as model ids. ``settings``: how to reach and pace it (``vleval.judge.settings``;
    pass ``settings.under(protocol)`` for the protocol's attempts and timeout); ``options``: single
    ``JudgeSettings`` fields replaced (``base_url=...``, ``cache_dir=...``). ``base_url`` / ``api_key``
    default to ``OPENAI_API_BASE`` / ``OPENAI_API_KEY``. ``LOCAL_LLM`` overrides the model id.
    ``cache_dir``: pass ``default_cache_dir(work_dir)``.
    """
    settings = dataclasses.replace(settings if settings is not None else JudgeSettings(), **options)
    short_name = spec if spec is not None else default_short_name
    if short_name is None:
        return JudgeChoice(None, "this benchmark's metric is rule-based; no judge is used")
    if short_name.strip().lower() in NO_JUDGE_SPECS:
        return JudgeChoice(None, f"--judge {short_name}: rule-based answer extraction only")
    if is_local_judge_spec(short_name):  # open weights loaded by vleval (vleval.judge.local)
        return JudgeChoice(local_judge(short_name, settings))
    return _api_judge(short_name, settings)


def _api_judge(short_name: str, settings: JudgeSettings) -> JudgeChoice:
    """A judge behind an OpenAI-compatible endpoint."""
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY") or None
    base_url = settings.base_url or os.environ.get("OPENAI_API_BASE") or None
    if api_key is None and base_url is None:
        return JudgeChoice(
            None,
            f"no judge available for {short_name!r}: neither OPENAI_API_KEY nor OPENAI_API_BASE is set. "
            "Set OPENAI_API_KEY for api.openai.com, or pass --judge MODEL --judge-base-url URL for an "
            "OpenAI-compatible server (e.g. a local vLLM), or --judge none for rule-based extraction only.",
            missing_credentials=True,
        )
    # The reference's build_judge: LOCAL_LLM replaces the model id of every judge.
    model = os.environ.get("LOCAL_LLM") or JUDGE_MODEL_IDS.get(short_name, short_name)
    cache = JudgeCache(settings.cache_dir if settings.cache_dir is not None else Path(".judge_cache"))
    judge = OpenAIJudge(
        model,
        short_name=short_name,
        base_url=base_url or OPENAI_BASE_URL,
        api_key=api_key,
        workers=settings.workers,
        retries=settings.attempts,
        timeout=settings.attempt_timeout_s,
        retry_budget_s=settings.request_budget_s,
        max_consecutive_timeouts=settings.max_consecutive_timeouts,
        cache=cache,
        progress=settings.progress,
    )
    return JudgeChoice(judge)


def make_judge(
    spec: str | None, default_short_name: str | None, settings: JudgeSettings | None = None, **options: Any
) -> Judge | None:
    """``resolve_judge(spec, default_short_name, settings, **options).judge``; when a judge was wanted
    but no key or base URL is known, a ``JudgeUnavailableWarning`` says why (scoring decides what to
    do: fall back to rule-based matching, or stop)."""
    choice = resolve_judge(spec, default_short_name, settings, **options)
    if choice.missing_credentials:
        warnings.warn(choice.reason or "no judge", JudgeUnavailableWarning, stacklevel=2)
    return choice.judge
