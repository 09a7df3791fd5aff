"""The one client for OpenAI-compatible HTTP endpoints, shared by the LLM judge and the ``openai`` backend.

It owns every policy both need, once:

- **addresses**: ``normalize_base_url`` accepts the reference's full ``.../chat/completions`` URL
  (VLMEvalKit's ``OPENAI_API_BASE``), an OpenAI-style ``.../v1`` base or, for servers, a bare
  ``http://host:port``; a query string (``?api-version=...``) is kept on every request;
- **the key**: sent as ``Authorization: Bearer``; a local server that needs none gets a placeholder.
  The key is never shown: ``scrub`` is the project's one redaction function; it removes the key (and
  any run of 8+ characters that begins it, any ``Authorization``/``Bearer`` value, the values of
  key-holding environment variables, and credentials inside URLs) from every text before it is
  stored, logged or printed, and only then cuts it to length; ``redact_url`` removes credentials
  from URLs that are recorded (run.json, summary, report), ``redact_command`` from a command line;
- **redirects are never followed**: a 3xx from the endpoint is a failed attempt whose message names
  the location (without its credentials), and it makes the endpoint unavailable (every request
  would be redirected alike): the key never travels to another address, and no answer from another
  address is ever used;
- **deadlines are wall-clock**: ``Deadline`` shuts the connection down when an attempt's
  ``timeout_s`` has passed, however the server drips its answer (a socket timeout is per read and
  never fires on a server that sends a byte every half second), and ``retry_budget_s`` bounds one
  request's attempts and waits together;
- **retries**: a request gets ``attempts`` tries; connection failures, timeouts, 408/409/425/429
  and 5xx are retried with capped exponential backoff and jitter (a ``Retry-After`` is honoured up
  to the cap), within a total ``retry_budget_s`` per request; other 4xx are final;
- **endpoint-wide failures** raise ``EndpointUnavailableError`` instead of failing request after
  request: 401/403 (the key is refused; every later request would be refused too) at the first
  one, and ``max_consecutive_timeouts`` attempts in a row without any HTTP answer (timeouts,
  refused or reset connections). From then on every call raises at once;
- **concurrency**: ``run_concurrently`` runs one callable per item on a thread pool, answers in
  order, and drops what has not started when one raises (or on Ctrl-C);
- **reading replies** leniently: ``reply_text`` reads the first choice's text from the shapes real
  servers send (string content, a number, a list of content parts, a message given as a bare
  string); what it cannot read is a failed attempt, never an exception.

Plain ``urllib`` (standard library) does the HTTP, so that every failure mode (bodies that are not
JSON, resets, servers that never answer) is handled here rather than inside an SDK's own retry and
parsing layers.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from vleval.errors import EndpointUnavailableError

log = logging.getLogger("vleval.transport")

T = TypeVar("T")
R = TypeVar("R")

# Local OpenAI-compatible servers (vLLM, LMDeploy, the test server) need some key; this one is no secret.
PLACEHOLDER_API_KEY = "EMPTY"
# Worth another attempt besides every 5xx; every other 4xx (bad request, not found, ...) will not change.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# The key is refused: every later request would be refused too.
AUTH_STATUS = frozenset({401, 403})

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRY_BUDGET_S = 600.0
DEFAULT_MAX_CONSECUTIVE_TIMEOUTS = 5
ERROR_TEXT_LIMIT = 500  # characters of a server's error message kept
# A reply larger than this is not an OpenAI-compatible answer; read no further (an endless body).
MAX_REPLY_BYTES = 64 << 20

CHAT_PATH = "chat/completions"


# --------------------------------------------------------------------------------------------------
# Addresses and secrets
# --------------------------------------------------------------------------------------------------
def normalize_base_url(url: str, *, ensure_v1: bool = False) -> str:
    """The API base for ``url``: a trailing ``/chat/completions`` (the reference's full endpoint
    form) and slashes are removed; with ``ensure_v1`` (model servers given as ``http://host:port``)
    ``/v1`` is appended when missing. A query string stays as it is."""
    parts = urllib.parse.urlsplit(url.strip())
    path = parts.path.rstrip("/")
    suffix = "/" + CHAT_PATH
    if path.endswith(suffix):
        path = path[: -len(suffix)]
    if ensure_v1 and not path.endswith("/v1"):
        path += "/v1"
    return urllib.parse.urlunsplit(parts._replace(path=path))


def endpoint_url(base_url: str, path: str) -> str:
    """``base_url`` + ``/path``, keeping the base's query string at the end. A ``path`` that starts
    with ``/`` sits beside the API version (vLLM's ``/tokenize``): the base's ``/v1`` is dropped."""
    parts = urllib.parse.urlsplit(base_url)
    base_path = parts.path.rstrip("/")
    if path.startswith("/"):
        base_path = base_path.removesuffix("/v1")
    return urllib.parse.urlunsplit(parts._replace(path=base_path + "/" + path.lstrip("/")))


# Query parameters whose values are credentials (Azure's api-key, Google's key, signed URLs' sig, ...).
_SECRET_PARAM = re.compile(r"key|token|secret|passw|auth|sig|credential|session", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(sk-|Bearer\s)", re.IGNORECASE)
REDACTED = "***"


def _is_secret_param(name: str, value: str) -> bool:
    return bool(_SECRET_PARAM.search(name) or _SECRET_VALUE.match(value))


def redact_url(url: str) -> str:
    """``url`` with credentials removed, for recording (run.json, summary, report): a
    ``user:password@`` becomes ``***@``; values of credential-like query parameters (``key``,
    ``api-key``, ``api_key``, ``token``, ``sig``, ...; or values that look like keys) become
    ``***``. Anything that cannot be parsed is scrubbed as text."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = REDACTED + "@" + netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            query = "&".join(
                f"{urllib.parse.quote(name, safe='-_.')}="
                + (REDACTED if _is_secret_param(name, value) else urllib.parse.quote(value, safe="-_.:/"))
                for name, value in pairs
            )
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        return _scrub_urls(_scrub_auth(url))


def url_secrets(url: str) -> list[str]:
    """The credentials inside ``url`` (password of ``user:password@``, secret query values), so that
    error texts can be scrubbed of them too."""
    try:
        parts = urllib.parse.urlsplit(url)
        # user:password@ -> the password; a lone user@ is a token (https://TOKEN@host)
        found = [parts.password or parts.username] if parts.username else []
        found += [v for k, v in urllib.parse.parse_qsl(parts.query) if v and _is_secret_param(k, v)]
    except ValueError:
        return []
    return found


_AUTH_VALUE = re.compile(
    r"""(?ix)
    (\b(?:bearer|basic)\s+) [^\s"',;}\]]+                           # Bearer <token>, Basic <pair>
    | (\b(?:authorization|api[-_]?key|x-api-key)["']?\s*[:=]\s*["']?) (?!bearer\s|basic\s) [^\s"',;}\]&]+
    """
)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
# Keys of the common providers' shape (sk-..., sk-proj-...), even when they are not ours.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")


def _scrub_auth(text: str) -> str:
    return _AUTH_VALUE.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


def _scrub_urls(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        try:
            return redact_url(found)
        except Exception:
            return REDACTED

    return _URL.sub(one, text)


# Environment variables whose values are credentials (OPENAI_API_KEY, VLEVAL_API_KEY, HF_TOKEN,
# AWS_SECRET_ACCESS_KEY, *_PASSWORD, ...).
_SECRET_ENV_NAME = re.compile(r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
# Environment variables holding endpoint URLs, which may carry credentials.
_URL_ENV_NAMES = ("OPENAI_API_BASE", "VLEVAL_API_BASE", "HF_ENDPOINT")
# A run of this many characters that begins a secret is scrubbed too (a key cut by a server or a
# log line leaves its head); shorter runs would match ordinary text.
MIN_SECRET_PREFIX = 8


def known_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credentials this process holds in its environment: values of variables named like keys
    (``OPENAI_API_KEY``, ``VLEVAL_API_KEY``, ``HF_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ...; values
    shorter than ``MIN_SECRET_PREFIX`` are not treated as secrets) and the credentials inside the
    endpoint URLs read from it (``OPENAI_API_BASE``, ``VLEVAL_API_BASE``). ``scrub`` removes them."""
    env = os.environ if environ is None else environ
    found = [
        value
        for name, value in env.items()
        if _SECRET_ENV_NAME.search(name) and len(value) >= MIN_SECRET_PREFIX and value != PLACEHOLDER_API_KEY
    ]
    for name in _URL_ENV_NAMES:
        found += url_secrets(env.get(name) or "")
    return found


def _scrub_secret(text: str, secret: str) -> str:
    """``text`` without ``secret`` and without any run of ``MIN_SECRET_PREFIX``+ characters that
    begins it (what is left of a key that was cut)."""
    if len(secret) < MIN_SECRET_PREFIX:
        return text.replace(secret, REDACTED)
    head, pieces, start = secret[:MIN_SECRET_PREFIX], [], 0
    while (found := text.find(head, start)) >= 0:
        end = found + MIN_SECRET_PREFIX
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        pieces += [text[start:found], REDACTED]
        start = end
    return "".join(pieces) + text[start:]


def remove_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets and those of ``known_secrets()`` (each also URL-encoded),
    nor any run of 8+ characters that begins one of them; nothing else changes. For what a server
    returns as data (a judge's answer, a model's prediction): a compromised endpoint may echo the key
    there, and a real answer never holds it, so no score can move."""
    every = {s for s in (*secrets, *known_secrets()) if s and s != PLACEHOLDER_API_KEY}
    for secret in sorted(every, key=len, reverse=True):
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = _scrub_secret(text, form)
    return text


def scrub(text: str, secrets: Iterable[str | None] = (), *, limit: int | None = None) -> str:
    """``text`` (an error message from a remote server, a command line, a log line) without the
    given secrets (the API key, also URL-encoded) and those of ``known_secrets()``, without any run
    of 8+ characters that begins one of them, without any ``Authorization``/``Bearer``/``api-key``
    value or ``sk-...`` key, and with credentials removed from the URLs inside it; then, and only
    then (a cut first could leave a key's head that no longer matches), cut to ``limit`` characters.
    The project's one redaction function: every text that may hold a secret goes through it."""
    text = remove_secrets(text, secrets)
    text = _KEY_LIKE.sub(REDACTED, _scrub_urls(_scrub_auth(text)))
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text


def redact_command(argv: Sequence[str], secrets: Iterable[str | None] = ()) -> list[str]:
    """A command line as records keep it (run.json's ``command``): every argument through ``scrub``,
    so a URL argument (``--judge-base-url http://user:pass@host/v1?api-key=...``, also in the
    ``--flag=URL`` form) keeps its address without its credentials, and a known secret appears
    nowhere."""
    every = [*secrets]
    return [scrub(str(arg), every) for arg in argv]


# --------------------------------------------------------------------------------------------------
# Wall-clock deadlines and the opener (no redirects)
# --------------------------------------------------------------------------------------------------
class Deadline:
    """A wall-clock limit on one network exchange. When it passes, every socket it watches is shut
    down, which ends a blocked read at once: a socket timeout applies to each read alone, so a server
    that sends one byte every half second would never trip it. ``extend(seconds)`` moves the limit
    (downloads: more time once enough bytes came). Use as a context manager around the exchange."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._at = time.monotonic() + seconds
        self._sockets: list[Any] = []
        self._done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._watch, name="vleval-deadline", daemon=True)

    def __enter__(self) -> Deadline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._done = True
            self._sockets.clear()
            self._cond.notify()

    def watch(self, sock: Any) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it already has)."""
        with self._cond:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def extend(self, seconds: float) -> None:
        with self._cond:
            if not self.expired:
                self._at = time.monotonic() + seconds
                self._cond.notify()

    def _watch(self) -> None:
        with self._cond:
            while not self._done:
                remaining = self._at - time.monotonic()
                if remaining <= 0:
                    self.expired = True
                    for sock in self._sockets:
                        _shut(sock)
                    return
                self._cond.wait(remaining)


def _shut(sock: Any) -> None:
    # socket.socket's own shutdown, on the file descriptor: ssl.SSLSocket.shutdown would also drop its
    # TLS state under the reading thread's feet (a ValueError there); this way that read sees EOF
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError, TypeError):  # already closed
        pass


def _watched(connection_class: type, deadline: Deadline) -> type:
    """``connection_class`` whose socket ``deadline`` shuts down when it passes."""

    class Watched(connection_class):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    return Watched


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not instructions: the 3xx reaches the caller as an ``HTTPError``."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_watched(http_class, self._deadline), req, **kwargs)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_watched(http_class, self._deadline), req, **kwargs)


def open_url(request: urllib.request.Request, deadline: Deadline, *, follow_redirects: bool = False) -> Any:
    """``urlopen(request)`` under ``deadline`` (its sockets are shut down when it passes; the per-read
    socket timeout is the deadline's length). Redirects are not followed unless asked, and never
    for a request that carries credentials (an ``Authorization`` header)."""
    if follow_redirects and request.has_header("Authorization"):
        raise ValueError("a request with credentials never follows redirects")
    handlers: list[Any] = [_WatchedHTTP(deadline), _WatchedHTTPS(deadline)]
    if not follow_redirects:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    return opener.open(request, timeout=max(deadline.seconds, 0.01))


class ReplyTooLarge(ValueError):
    """A response body over the cap of ``read_capped``."""


def read_capped(response: Any, cap: int = MAX_REPLY_BYTES) -> bytes:
    """A response body, read in pieces (an endless body is never held whole); ``ReplyTooLarge``
    once it passes ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
        if size > cap:
            raise ReplyTooLarge(f"the reply is larger than {cap / 2**20:g} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------------
# Reading replies
# --------------------------------------------------------------------------------------------------
def content_text(content: Any) -> str | None:
    """A message ``content`` as text: a string as is, a number as written, the text parts of a
    list of content parts joined; None when there is no text (null, no text part, other shapes)."""
    if isinstance(content, str):
        return content
    if isinstance(content, bool):
        return None
    if isinstance(content, int | float):
        return str(content)
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        texts = [
            part if isinstance(part, str) else part.get("text")
            for part in content
            if isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("text"), str))
        ]
        return "".join(texts) if texts else None
    return None


def first_choice(response: Any) -> Any:
    """``response["choices"][0]``, or None when the body has no choice."""
    if not isinstance(response, dict):
        return None
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    return choices[0]


def reply_text(response: Any) -> str | None:
    """The text of a chat completion's first choice, read leniently (``message.content`` in any of
    the shapes ``content_text`` reads, a message given as a bare string, a completions-style
    ``text``); None when the reply carries no text."""
    choice = first_choice(response)
    if isinstance(choice, str):
        return choice
    if not isinstance(choice, dict):
        return None
    message = choice.get("message")
    if message is None:
        return content_text(choice.get("text"))
    if isinstance(message, dict):
        return content_text(message.get("content"))
    return content_text(message)


def describe_shape(response: Any) -> str:
    """A short description of a reply body for error texts (no content, which may be long)."""
    if not isinstance(response, dict):
        return f"a JSON {type(response).__name__}, not an object"
    choice = first_choice(response)
    if choice is None:
        return f"no choices (keys: {', '.join(sorted(map(str, response))) or 'none'})"
    if isinstance(choice, dict):
        message = choice.get("message")
        if isinstance(message, dict):
            return f"message content of type {type(message.get('content')).__name__}"
        return f"message of type {type(message).__name__}"
    return f"a choice of type {type(choice).__name__}"


class BadReply(Exception):
    """Raised by a caller's ``parse`` function: the server answered 200 with a body that cannot be
    used (no text, empty answer). Counted as a failed attempt and retried like a 5xx."""


# --------------------------------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------------------------------
def run_concurrently(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    *,
    name: str = "transport",
    on_done: Callable[[], None] | None = None,
) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``workers`` threads, results in order. When one
    call raises, calls not yet started are dropped, those in flight are waited for, and the
    exception propagates (on Ctrl-C at once)."""
    if not items:
        return []
    results: list[Any] = [None] * len(items)
    failed = threading.Event()

    def guarded(item: T) -> R | None:
        if failed.is_set():  # another call raised: start nothing new
            return None
        try:
            return fn(item)
        except BaseException:
            failed.set()
            raise

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))), thread_name_prefix=name)
    try:
        futures = {pool.submit(guarded, item): position for position, item in enumerate(items)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_done is not None:
                on_done()
    except Exception:
        # Calls in flight end first, so that nothing is sent after the error is raised.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:  # Ctrl-C: do not wait for calls in flight
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


# --------------------------------------------------------------------------------------------------
# The endpoint
# --------------------------------------------------------------------------------------------------
@dataclass
class CallStats:
    """What an endpoint did so far. ``calls``: HTTP attempts; ``failed_requests``: requests whose
    every attempt failed; tokens: summed from the replies' ``usage``; ``last_error``: scrubbed."""

    calls: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """One request's result: ``value`` (what ``parse`` returned) or ``error`` (scrubbed)."""

    value: T | None = None
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _Failure:
    message: str
    retryable: bool
    no_answer: bool = False  # no HTTP answer at all (timeout, refused, reset)
    auth: bool = False
    redirect: bool = False  # the endpoint sent the request elsewhere (3xx)
    wait_hint: float | None = None


class _Secret:
    """Holds a key (or several) without showing it in ``repr``/``vars`` dumps."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "_Secret(***)"


class OpenAIEndpoint:
    """An OpenAI-compatible server: JSON requests with the policies of this module.

    ``what`` names the endpoint in messages (``"judge gpt-4o-mini"``, ``"openai backend"``).
    ``attempts`` >= 1 tries per request; ``timeout_s`` per attempt; ``retry_budget_s`` bounds one
    request's attempts and waits together; ``max_consecutive_timeouts`` attempts in a row without
    an HTTP answer make the endpoint unavailable.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        what: str = "server",
        ensure_v1: bool = False,
        attempts: int = 3,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_budget_s: float = DEFAULT_RETRY_BUDGET_S,
        max_consecutive_timeouts: int = DEFAULT_MAX_CONSECUTIVE_TIMEOUTS,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts per request must be at least 1, got {attempts}")
        if timeout_s <= 0 or retry_budget_s <= 0 or max_consecutive_timeouts < 1:
            raise ValueError("timeout_s and retry_budget_s must be > 0, max_consecutive_timeouts >= 1")
        normalized = normalize_base_url(base_url, ensure_v1=ensure_v1)
        parts = urllib.parse.urlsplit(normalized)
        self._key = _Secret(api_key or "")
        self._secrets = _Secret(tuple(filter(None, [api_key, *url_secrets(normalized)])))
        # user:password@ in the URL: urllib does not send it; as the HTTP clients that accept such
        # URLs do, it becomes Basic auth when there is no API key to send.
        self._basic = _Secret("")
        if parts.username is not None and not api_key:
            pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._basic = _Secret(base64.b64encode(pair.encode()).decode("ascii"))
        # the URL requests go to (its query may hold a key): kept out of repr/vars dumps too
        self._url = _Secret(urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))
        self.base_url = redact_url(normalized)  # for display and records; never the secret form
        self.what = what
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.max_consecutive_timeouts = max_consecutive_timeouts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.stats = CallStats()
        self.unavailable: str | None = None  # set once the endpoint is declared unusable
        self._consecutive_no_answer = 0
        self._lock = threading.Lock()
        self._rng = random.Random()

    def __repr__(self) -> str:
        return (
            f"OpenAIEndpoint({self.base_url!r}, what={self.what!r}, attempts={self.attempts}, "
            f"timeout_s={self.timeout_s}, retry_budget_s={self.retry_budget_s})"
        )

    # -- public ------------------------------------------------------------------------------------
    def scrub(self, text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
        """``scrub`` with this endpoint's secrets, then cut to ``limit`` characters."""
        return scrub(text, self._secrets.value, limit=limit)

    def remove_secrets(self, text: str) -> str:
        """``remove_secrets`` with this endpoint's secrets: for answers stored as data."""
        return remove_secrets(text, self._secrets.value)

    def chat(self, body: dict[str, Any], parse: Callable[[Any], T]) -> Outcome[T]:
        """POST ``chat/completions``; ``parse(json) -> value`` raises ``BadReply`` for a reply that
        cannot be used. Raises ``EndpointUnavailableError`` (see the module docstring)."""
        return self.request("POST", CHAT_PATH, body, parse)

    def get(self, path: str, parse: Callable[[Any], T], *, attempts: int | None = None) -> Outcome[T]:
        return self.request("GET", path, None, parse, attempts=attempts)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        parse: Callable[[Any], T],
        *,
        attempts: int | None = None,
    ) -> Outcome[T]:
        """One request with retries. Never raises for a failure of this request alone: the
        ``Outcome`` carries the (scrubbed) error."""
        started = time.monotonic()
        limit = attempts or self.attempts
        failure: _Failure | None = None
        attempt = 0
        for attempt in range(1, limit + 1):
            self._raise_if_unavailable()
            remaining = self.retry_budget_s - (time.monotonic() - started)
            failure, value = self._attempt(method, path, body, parse, timeout=min(self.timeout_s, remaining))
            if failure is None:
                return Outcome(value=value, attempts=attempt)
            self._note_failure(failure)
            if not failure.retryable or attempt == limit:
                break
            delay = self._backoff(attempt, failure.wait_hint)
            if time.monotonic() - started + delay >= self.retry_budget_s:
                failure = _Failure(
                    f"{failure.message} (retry budget of {self.retry_budget_s:g}s spent after "
                    f"{attempt} attempt(s))",
                    retryable=False,
                )
                break
            log.debug(
                "%s: attempt %d failed (%s); retry in %.2fs", self.what, attempt, failure.message, delay
            )
            time.sleep(delay)
        assert failure is not None
        with self._lock:
            self.stats.failed_requests += 1
            self.stats.last_error = failure.message
        return Outcome(error=failure.message, attempts=attempt)

    # -- internals ---------------------------------------------------------------------------------
    def _raise_if_unavailable(self) -> None:
        if self.unavailable is not None:
            raise EndpointUnavailableError(self.unavailable)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "vleval"}
        if self._basic.value:
            headers["Authorization"] = f"Basic {self._basic.value}"
        else:
            headers["Authorization"] = f"Bearer {self._key.value or PLACEHOLDER_API_KEY}"
        return headers

    def _attempt(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        parse: Callable[[Any], T],
        *,
        timeout: float,
    ) -> tuple[_Failure | None, T | None]:
        with self._lock:
            self.stats.calls += 1
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            endpoint_url(self._url.value, path), data=data, method=method, headers=self._headers()
        )
        url = request.full_url
        retry_after: str | None = None
        location: str | None = None
        answered_by = url
        slow = f"no complete answer within {timeout:g}s (timed out: the wall-clock limit of one attempt)"
        quiet = f"no answer within {timeout:g}s (timed out)"
        with Deadline(timeout) as deadline:
            try:
                with open_url(request, deadline) as response:
                    status, answered_by = response.status, response.geturl()
                    raw = read_capped(response)
            except urllib.error.HTTPError as err:
                status = err.code
                retry_after = err.headers.get("Retry-After") if err.headers else None
                location = err.headers.get("Location") if err.headers else None
                try:
                    raw = read_capped(err)
                except (OSError, ReplyTooLarge, http.client.HTTPException):
                    raw = b""
            except ReplyTooLarge as err:
                return _Failure(f"unusable reply: {err}", retryable=True), None
            except TimeoutError:
                return self._no_answer(slow if deadline.expired else quiet), None
            except urllib.error.URLError as err:
                if deadline.expired or isinstance(err.reason, TimeoutError):
                    return self._no_answer(slow if deadline.expired else quiet), None
                return self._no_answer(f"connection error: {err.reason}"), None
            except (OSError, http.client.HTTPException) as err:  # reset, closed without an answer, ...
                if deadline.expired:
                    return self._no_answer(slow), None
                return self._no_answer(f"connection error: {type(err).__name__}: {err}"), None
        if deadline.expired:  # the body was cut off by the deadline: not an answer
            return self._no_answer(slow), None
        with self._lock:
            self._consecutive_no_answer = 0
        if 300 <= status < 400 or answered_by != url:
            target = urllib.parse.urljoin(url, location) if location else "an unnamed address"
            if answered_by != url:
                target = answered_by
            message = (
                f"HTTP {status}: a redirect to {self.scrub(target)}; vleval does not follow redirects, so that "
                "the key is never sent to, and no answer is taken from, another address than the configured one"
            )
            return _Failure(message, retryable=False, redirect=True), None
        if status >= 400:
            message = f"HTTP {status}: {self.scrub(_error_message(raw))}"
            if status in AUTH_STATUS:
                return _Failure(message, retryable=False, auth=True), None
            retryable = status in RETRYABLE_STATUS or status >= 500
            return _Failure(message, retryable=retryable, wait_hint=_seconds(retry_after)), None
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            snippet = self.scrub(raw.decode("utf-8", "replace"), limit=80)
            return _Failure(f"HTTP {status} with a body that is not JSON: {snippet!r}", True), None
        self._count_usage(payload)
        try:
            return None, parse(payload)
        except BadReply as err:
            return _Failure(f"unusable reply: {self.scrub(str(err))}", retryable=True), None

    def _no_answer(self, message: str) -> _Failure:
        with self._lock:
            self._consecutive_no_answer += 1
        return _Failure(self.scrub(message), retryable=True, no_answer=True)

    def _note_failure(self, failure: _Failure) -> None:
        with self._lock:
            self.stats.last_error = failure.message
            if self.unavailable is not None:  # declared by another thread meanwhile
                raise EndpointUnavailableError(self.unavailable)
            if failure.auth:
                self.unavailable = (
                    f"{self.what} at {self.base_url} refused the API key ({failure.message}); "
                    "no further requests are sent"
                )
            elif failure.redirect:
                self.unavailable = (
                    f"{self.what} at {self.base_url} answered with {failure.message}; no further requests "
                    "are sent. If the new address is the right one, configure it instead"
                )
            elif failure.no_answer and self._consecutive_no_answer >= self.max_consecutive_timeouts:
                self.unavailable = (
                    f"{self.what} at {self.base_url} is unreachable: {self._consecutive_no_answer} attempts "
                    f"in a row got no answer (last: {failure.message})"
                )
            else:
                return
        log.warning("%s", self.unavailable)
        raise EndpointUnavailableError(self.unavailable)

    def _count_usage(self, payload: Any) -> None:
        usage = payload.get("usage") if isinstance(payload, dict) else None
        if not isinstance(usage, dict):
            return
        with self._lock:
            for field, key in (
                ("prompt_tokens", "prompt_tokens"),
                ("completion_tokens", "completion_tokens"),
            ):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    setattr(self.stats, field, getattr(self.stats, field) + value)

    def _backoff(self, attempt: int, wait_hint: float | None) -> float:
        delay = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)) * self._rng.uniform(
            0.5, 1.0
        )
        if wait_hint is not None:
            delay = max(delay, min(wait_hint, self.backoff_cap_s))
        return delay


def _error_message(raw: bytes) -> str:
    """The message of an error body: OpenAI's ``{"error": {"message": ...}}``, variants, or the text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text or "(empty body)"  # cut by the caller, after scrubbing
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for key in ("message", "detail", "msg"):
                if key in inner:
                    return str(inner[key])
        if "message" in body:
            return str(body["message"])
        return str(inner)
    return str(body)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
