"""The LLM judge: an OpenAI-compatible chat client with a thread pool, retries and an answer cache.

Request body as the reference's ``OpenAIWrapper`` (VLMEvalKit b13a37db, ``vlmeval/api/gpt.py``):
``{model, messages, temperature, max_tokens}``, messages = optional system message (plain string),
then one user message whose content is ``[{"type": "text", "text": prompt}]``. ``n=1`` is sent only
to openai.com, as the reference does from e8e78f05 on (some self-hosted servers reject ``n``); it
does not change the answer and is not part of the cache key.

Failures never raise: a request whose attempts all failed yields ``JUDGE_FAILURE_TEXT`` (the
reference's ``fail_msg``), and is not cached. ``retries`` counts attempts, as the reference's
``for i in range(self.retry)`` does. Like the reference, an empty answer counts as a failed attempt.

Environment variables are read only in ``make_judge`` (the edge), never by the client:
``OPENAI_API_KEY``, ``OPENAI_API_BASE`` (the full ``.../chat/completions`` URL, as the reference
expects, or a ``.../v1`` base) and ``LOCAL_LLM`` (replaces the API model id of every judge, as the
reference's ``build_judge`` does). The API key is never printed, logged, written or shown in a repr.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from vleval.judge.cache import JudgeCache, cache_key
from vleval.judge.local import is_local_judge_spec, local_judge
from vleval.protocol import JUDGE_MODEL_IDS
from vleval.types import JUDGE_FAILURE_TEXT, Judge, JudgeRequest

log = logging.getLogger("vleval.judge")

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_JUDGE_SPECS = frozenset({"none", "exact_matching"})
# Local OpenAI-compatible servers (vLLM, lmdeploy, the test server) need some key; this one is no secret.
PLACEHOLDER_API_KEY = "EMPTY"
# Status codes worth another attempt; every other 4xx (bad request, auth, not found) will not change.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# Status codes that mean every later request fails too: stop calling the API for this judge.
FATAL_STATUS = frozenset({401, 403})


class JudgeUnavailableWarning(UserWarning):
    """A judge was wanted but cannot be built (no API key and no base URL)."""


def normalize_base_url(url: str) -> str:
    """Accept the reference's full ``.../chat/completions`` URL or an OpenAI-style ``.../v1`` base;
    return the base the ``openai`` client wants."""
    base = url.strip().rstrip("/")
    suffix = "/chat/completions"
    if base.endswith(suffix):
        base = base[: -len(suffix)]
    return base


@dataclass
class JudgeStats:
    """What a judge did so far; read by scoring to report failures."""

    calls: int = 0  # HTTP attempts
    cache_hits: int = 0
    answered: int = 0  # requests answered by the API (and cached)
    failures: int = 0  # requests that got JUDGE_FAILURE_TEXT
    last_error: str | None = None  # redacted


class _AttemptFailed(Exception):
    def __init__(self, message: str, *, retryable: bool, fatal: bool = False, wait_hint: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.fatal = fatal
        self.wait_hint = wait_hint


class OpenAIJudge:
    """An OpenAI-compatible judge implementing ``vleval.types.Judge``."""

    def __init__(
        self,
        model: str,
        *,
        short_name: str | None = None,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        workers: int = 16,
        retries: int = 6,
        timeout: float = 600.0,
        cache: JudgeCache | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        progress: bool = False,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if retries < 1:
            raise ValueError(f"retries (attempts per request) must be at least 1, got {retries}")
        self.model = model
        self.short_name = short_name or model
        self.base_url = normalize_base_url(base_url)
        self.workers = workers
        self.retries = retries
        self.timeout = timeout
        self.cache = cache
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.progress = progress
        self.stats = JudgeStats()
        self._send_n = "openai.com" in self.base_url
        self._secret = _Secret(api_key or "")
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or PLACEHOLDER_API_KEY,
            max_retries=0,  # our own loop below: backoff, jitter, and the reference's attempt count
            timeout=timeout,
        )
        self._lock = threading.Lock()
        self._fatal_error: str | None = None
        self._rng = random.Random()

    def __repr__(self) -> str:
        return (
            f"OpenAIJudge(model={self.model!r}, short_name={self.short_name!r}, base_url={self.base_url!r}, "
            f"workers={self.workers}, retries={self.retries}, timeout={self.timeout}, cache={self.cache!r})"
        )

    # ---------------------------------------------------------------------------------------------
    # Public API
    # ---------------------------------------------------------------------------------------------
    def request_body(self, request: JudgeRequest) -> dict[str, Any]:
        """The chat-completions body for one request, without ``model`` (as the reference builds it)."""
        messages: list[dict[str, Any]] = []
        if request.system is not None:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": [{"type": "text", "text": request.prompt}]})
        return {"messages": messages, "temperature": request.temperature, "max_tokens": request.max_tokens}

    def ask(self, request: JudgeRequest) -> str:
        return self.ask_many([request])[0]

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]:
        """One answer per request, in order. Cached answers are reused; identical requests in one
        batch are asked once; the rest go to the API from ``workers`` threads."""
        bodies = [self.request_body(r) for r in requests]
        keys = [cache_key(self.model, b) for b in bodies]
        answers: dict[str, str] = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache else {}
        with self._lock:
            self.stats.cache_hits += sum(1 for k in keys if k in answers)
        todo = {k: b for k, b in zip(keys, bodies, strict=True) if k not in answers}
        if todo:
            answers.update(self._ask_uncached(todo))
        return [answers[k] for k in keys]

    def ping(self) -> str | None:
        """The reference's ``working()`` check, once: None when a 'hello' gets an answer, else the
        (redacted) reason. Not cached."""
        body = self.request_body(JudgeRequest(prompt="hello"))
        answer = self._ask_one(body)
        if answer is None:
            return self.stats.last_error or "no answer"
        return None

    def close(self) -> None:
        self._client.close()
        if self.cache is not None:
            self.cache.close()

    # ---------------------------------------------------------------------------------------------
    # Internals
    # ---------------------------------------------------------------------------------------------
    def _ask_uncached(self, todo: dict[str, dict[str, Any]]) -> dict[str, str]:
        from tqdm import tqdm

        results: dict[str, str] = {}
        bar = tqdm(total=len(todo), desc=f"judge {self.short_name}", disable=not self.progress)
        pool = ThreadPoolExecutor(max_workers=min(self.workers, len(todo)), thread_name_prefix="judge")
        try:
            futures = {pool.submit(self._ask_and_store, key, body): key for key, body in todo.items()}
            for future in as_completed(futures):
                answer = future.result()
                results[futures[future]] = JUDGE_FAILURE_TEXT if answer is None else answer
                bar.update(1)
        except BaseException:
            # Ctrl-C: drop what has not started; every answer received so far is already cached.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            bar.close()
        pool.shutdown(wait=True)
        return results

    def _ask_and_store(self, key: str, body: dict[str, Any]) -> str | None:
        # Stored by the worker the moment it arrives, so that a kill loses no received answer.
        answer = self._ask_one(body)
        if answer is not None and self.cache is not None:
            self.cache.put(key, self.model, body, answer)
        return answer

    def _ask_one(self, body: dict[str, Any]) -> str | None:
        """Up to ``retries`` attempts; None when all failed."""
        for attempt in range(self.retries):
            if self._fatal_error is not None:
                break
            try:
                answer = self._attempt(body)
            except _AttemptFailed as failure:
                self._note_error(str(failure))
                if failure.fatal:
                    with self._lock:
                        self._fatal_error = str(failure)
                    log.warning("judge %s: %s; no further requests will be sent", self.model, failure)
                    break
                if not failure.retryable:
                    break
                if attempt + 1 < self.retries:
                    delay = self._backoff(attempt, failure.wait_hint)
                    log.debug(
                        "judge %s: attempt %d failed (%s); retry in %.2fs",
                        self.model,
                        attempt + 1,
                        failure,
                        delay,
                    )
                    time.sleep(delay)
                continue
            with self._lock:
                self.stats.answered += 1
            return answer
        with self._lock:
            self.stats.failures += 1
        if self._fatal_error is None:  # after a fatal error, one warning was enough
            log.warning(
                "judge %s: no answer after %d attempt(s): %s", self.model, self.retries, self.stats.last_error
            )
        return None

    def _attempt(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.stats.calls += 1
        extra = {"n": 1} if self._send_n else {}
        try:
            response = self._client.chat.completions.create(model=self.model, **body, **extra)
        except openai.APIStatusError as err:
            status = err.status_code
            message = f"HTTP {status}: {self._redact(_error_text(err))}"
            retryable = status in RETRYABLE_STATUS or status >= 500
            raise _AttemptFailed(
                message, retryable=retryable, fatal=status in FATAL_STATUS, wait_hint=_retry_after(err)
            ) from None
        except openai.APITimeoutError:
            raise _AttemptFailed(f"timed out after {self.timeout}s", retryable=True) from None
        except openai.APIConnectionError as err:
            raise _AttemptFailed(f"connection error: {self._redact(str(err))}", retryable=True) from None
        except Exception as err:  # malformed response and the like: the reference retries these too
            raise _AttemptFailed(f"{type(err).__name__}: {self._redact(str(err))}", retryable=True) from None
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            content = None
        answer = (content or "").strip()
        # The reference accepts an answer only if it is non-empty and not its own failure text.
        if not answer or JUDGE_FAILURE_TEXT.strip() in answer:
            raise _AttemptFailed("empty answer", retryable=True)
        return answer

    def _backoff(self, attempt: int, wait_hint: float | None) -> float:
        delay = min(self.backoff_cap, self.backoff_base * 2**attempt) * self._rng.uniform(0.5, 1.0)
        if wait_hint is not None:
            delay = max(delay, min(wait_hint, self.backoff_cap))
        return delay

    def _note_error(self, message: str) -> None:
        with self._lock:
            self.stats.last_error = message

    def _redact(self, text: str) -> str:
        secret = self._secret.value
        if secret and secret in text:
            text = text.replace(secret, "***")
        return text[:500]


class _Secret:
    """Holds the API key for redaction without showing it in ``repr``/``vars`` dumps."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "_Secret(***)"


def _error_text(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
        return str(inner)
    return str(err.message)


def _retry_after(err: openai.APIStatusError) -> float | None:
    try:
        value = err.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


# -------------------------------------------------------------------------------------------------
# Building a judge from user input (CLI flags, environment)
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
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    workers: int = 16,
    retries: int = 6,
    timeout: float = 600.0,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> JudgeChoice:
    """Like ``make_judge``, returning the reason when there is no judge instead of warning."""
    short_name = spec if spec is not None else default_short_name
    if short_name is None:
        return JudgeChoice(None, "this benchmark's metric is rule-based; no judge is used")
    if short_name.strip().lower() in NO_JUDGE_SPECS:
        return JudgeChoice(None, f"--judge {short_name}: rule-based answer extraction only")
    if is_local_judge_spec(short_name):  # open weights loaded by vleval (vleval.judge.local)
        return JudgeChoice(local_judge(short_name, cache_dir=cache_dir, retries=retries))
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    base_url = base_url or os.environ.get("OPENAI_API_BASE") or None
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
    cache = JudgeCache(cache_dir if cache_dir is not None else Path(".judge_cache"))
    judge = OpenAIJudge(
        model,
        short_name=short_name,
        base_url=base_url or OPENAI_BASE_URL,
        api_key=api_key,
        workers=workers,
        retries=retries,
        timeout=timeout,
        cache=cache,
        progress=progress,
    )
    return JudgeChoice(judge)


def make_judge(
    spec: str | None,
    default_short_name: str | None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    workers: int = 16,
    retries: int = 6,
    timeout: float = 600.0,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> Judge | None:
    """The judge for a benchmark, or None.

    ``spec``: the user's ``--judge`` (a short name such as ``gpt-4o-mini``, an API model id, or
    ``none`` / ``exact_matching``); None means ``default_short_name`` (``protocol.judge_for(card)``).
    Short names map to API ids through ``vleval.protocol.JUDGE_MODEL_IDS``; other names are used as
    model ids. ``base_url`` / ``api_key`` default to ``OPENAI_API_BASE`` / ``OPENAI_API_KEY``; with
    neither, there is no judge and a ``JudgeUnavailableWarning`` says why (scoring decides what to
    do: fall back to rule-based matching, or stop). ``LOCAL_LLM`` overrides the model id.
    ``cache_dir``: pass ``default_cache_dir(work_dir)``; None means ``./.judge_cache``.
    """
    choice = resolve_judge(
        spec,
        default_short_name,
        base_url=base_url,
        api_key=api_key,
        workers=workers,
        retries=retries,
        timeout=timeout,
        cache_dir=cache_dir,
        progress=progress,
    )
    if choice.missing_credentials:
        warnings.warn(choice.reason or "no judge", JudgeUnavailableWarning, stacklevel=2)
    return choice.judge
