"""A local, deterministic, OpenAI-compatible judge server on 127.0.0.1 (tests, the demo, dry runs).

    with JudgeServer() as server:
        judge = make_judge("gpt-4o-mini", None, base_url=server.base_url, cache_dir=tmp)
        ...
        server.request_count

It serves POST ``/v1/chat/completions`` and ``/chat/completions`` in the OpenAI format (and GET
``/v1/models``). Answers come from ``answer(model, messages, temperature) -> str``; the default,
``rule_based_answer``, answers the reference's judge prompts by each benchmark family's stand-in rule
(``BenchmarkFamily.stand_in_judge``). It is a stand-in, not a judge: numbers scored with it say
nothing about a model.

Failure injection (a misbehaving OpenAI-compatible server, for the fault tests of the judge and the
``openai`` backend): ``fail_next(n, status)`` answers the next n chat requests with that HTTP status;
``inject(mode, n)`` misbehaves in one of ``FAULT_MODES`` for the next n chat requests (every one when
n is None); ``delay_next(n, seconds)`` / ``delay_s`` slow answers down (timeouts, concurrency);
``api_key`` makes it reject other keys with 401, echoing the key it got as careless proxies do (to
test redaction). ``python -m vleval.synthetic.judge_server --fault MODE`` serves a fault by hand.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AnswerFn = Callable[[str, list[dict[str, Any]], float], str]

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})

# What ``inject`` can make the server do instead of answering normally.
FAULT_MODES: dict[str, str] = {
    "garbage": "HTTP 200 with a body that is not JSON",
    "empty_choices": "HTTP 200 with an empty 'choices' list",
    "reset": "the connection is reset without an answer",
    "hang": "no answer at all (until the client gives up or the server stops)",
    "echo_key": "HTTP 500 whose error message echoes the Authorization header and the key",
    "content_number": "the answer as a JSON number in message.content (0 if not numeric)",
    "content_parts": "message.content as a list of content parts",
    "content_null": "message.content null",
    "message_string": "the message given as a bare string",
}


# -------------------------------------------------------------------------------------------------
# The default responder: each benchmark family's rule for the judge prompts its scoring sends
# (``BenchmarkFamily.stand_in_judge``)
# -------------------------------------------------------------------------------------------------
def message_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (string content or a list of text parts)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


NOT_A_JUDGE_PROMPT = "Hello! This is the vleval local judge."  # the answer to a prompt no family knows


def rule_based_answer(model: str, messages: list[dict[str, Any]], temperature: float) -> str:
    """A deterministic stand-in for the reference judges: the first family (in listing order) whose
    rule knows the prompt answers it (see the module docstring)."""
    from vleval.families.base import all_families

    prompt = message_text(messages)
    for family in all_families().values():
        answer = family.stand_in_judge(prompt)
        if answer is not None:
            return answer
    return NOT_A_JUDGE_PROMPT


# -------------------------------------------------------------------------------------------------
# The server
# -------------------------------------------------------------------------------------------------
class JudgeServer:
    """A real HTTP server on 127.0.0.1 and a free port; use as a context manager."""

    def __init__(
        self,
        answer: AnswerFn | None = None,
        *,
        delay_s: float = 0.0,
        api_key: str | None = None,
        port: int = 0,
    ):
        self.answer = answer or rule_based_answer
        self.requested_port = port  # 0: a free port chosen by the OS
        self.delay_s = delay_s
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []  # every chat request body received, in arrival order
        self.auth_headers: list[str] = []
        self.paths: list[str] = []  # every request line's path (with its query), in arrival order
        self.peak_concurrency = 0
        self._lock = threading.Lock()
        # Per upcoming chat request: an HTTP status with its Retry-After, or a FAULT_MODES name.
        self._failures: list[tuple[int, float | None] | str] = []
        self.fault: str | None = None  # a FAULT_MODES name applied to every request (inject(mode))
        self._stopping = threading.Event()
        self._delays: list[float] = []
        self._in_flight = 0
        self._served = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- addresses
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the judge server is not running; use it as a context manager")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """OpenAI-style base (``.../v1``), for ``--judge-base-url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_url(self) -> str:
        """The full endpoint, as the reference's ``OPENAI_API_BASE`` expects it."""
        return f"{self.base_url}/chat/completions"

    # --- counters and failure injection
    @property
    def request_count(self) -> int:
        """Chat requests received (answered or failed on purpose)."""
        with self._lock:
            return len(self.requests)

    @property
    def answered_count(self) -> int:
        with self._lock:
            return self._served

    def fail_next(self, n: int, status: int = 500, *, retry_after: float | None = None) -> None:
        """Answer the next ``n`` chat requests with HTTP ``status`` (e.g. 429, 500, 503)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * n)

    def inject(self, mode: str, n: int | None = None) -> None:
        """Misbehave as ``FAULT_MODES[mode]`` on the next ``n`` chat requests (every one when None)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(FAULT_MODES)}")
        with self._lock:
            if n is None:
                self.fault = mode
            else:
                self._failures.extend([mode] * n)

    def delay_next(self, n: int, seconds: float) -> None:
        """Wait ``seconds`` before answering each of the next ``n`` chat requests."""
        with self._lock:
            self._delays.extend([seconds] * n)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.auth_headers.clear()
            self.paths.clear()
            self._failures.clear()
            self.fault = None
            self._delays.clear()
            self._served = 0
            self.peak_concurrency = 0

    # --- lifecycle
    def start(self) -> JudgeServer:
        self._stopping.clear()
        handler = type("JudgeHandler", (_Handler,), {"judge_server": self})
        self._httpd = _QuietServer(("127.0.0.1", self.requested_port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="judge-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases handlers of "hang" requests
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling (called from the handler threads)
    def _handle_chat(self, body: dict[str, Any], auth: str) -> _Reply:
        with self._lock:
            self.requests.append(body)
            self.auth_headers.append(auth)
            failure = self._failures.pop(0) if self._failures else self.fault
            delay = self._delays.pop(0) if self._delays else self.delay_s
            self._in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self._in_flight)
        try:
            if delay:
                time.sleep(delay)
            if self.api_key is not None and auth != f"Bearer {self.api_key}":
                got = auth.removeprefix("Bearer ")
                return _Reply(401, _error(f"Incorrect API key provided: {got}", "invalid_api_key"))
            if isinstance(failure, tuple):
                status, retry_after = failure
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return _Reply(status, _error(f"injected failure {status}", "injected"), headers)
            if failure is not None and failure not in _ANSWER_SHAPES:
                return self._fault(failure, auth)
            model = str(body.get("model", ""))
            text = self.answer(model, body.get("messages", []), float(body.get("temperature", 0.0) or 0.0))
            with self._lock:
                self._served += 1
                serial = self._served
            completion = _completion(serial, model, text, len(message_text(body.get("messages", [])).split()))
            if failure is not None:
                completion["choices"][0]["message"] = _ANSWER_SHAPES[failure](text)
            return _Reply(200, completion)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _fault(self, mode: str, auth: str) -> _Reply:
        if mode == "hang":
            self._stopping.wait(timeout=120.0)
            return _Reply(0, action="reset")
        if mode == "reset":
            return _Reply(0, action="reset")
        if mode == "garbage":
            return _Reply(200, raw=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if mode == "empty_choices":
            return _Reply(200, {"id": "chatcmpl-empty", "object": "chat.completion", "choices": []})
        # echo_key: an upstream proxy that puts the request's credentials into its error text
        key = auth.removeprefix("Bearer ")
        message = f"upstream failed for request with headers {{'Authorization': '{auth}'}} (api_key={key})"
        return _Reply(500, _error(message, "upstream_error"))


def _number_or_zero(text: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        return 0
    return int(value) if value.is_integer() and "." not in text else value


# How the "content_*" / "message_string" faults shape a normal answer's message.
_ANSWER_SHAPES: dict[str, Callable[[str], Any]] = {
    "content_number": lambda text: {"role": "assistant", "content": _number_or_zero(text)},
    "content_parts": lambda text: {"role": "assistant", "content": [{"type": "text", "text": text}]},
    "content_null": lambda text: {"role": "assistant", "content": None},
    "message_string": lambda text: text,
}


class _Reply:
    """What the handler sends: JSON ``payload`` (or ``raw`` bytes) with ``status``, or a reset."""

    def __init__(
        self,
        status: int,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        action: str = "send",
    ) -> None:
        self.status = status
        self.data = raw if raw is not None else json.dumps(payload).encode("utf-8")
        self.headers = headers or {}
        self.content_type = content_type
        self.action = action


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "vleval_local_judge", "param": None, "code": code}}


def _completion(serial: int, model: str, text: str, prompt_words: int = 0) -> dict[str, Any]:
    """A chat completion; ``usage`` counts words as tokens (enough to test token tallies)."""
    return {
        "id": f"chatcmpl-local-{serial}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_words + len(text.split()),
        },
    }


def _route(path: str) -> str:
    """The path without query string and trailing slash (a client may carry ``?api-version=...``)."""
    return path.partition("?")[0].rstrip("/")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up mid-request (timeout tests) is not an error worth a traceback


class _Handler(BaseHTTPRequestHandler):
    judge_server: JudgeServer  # set on the subclass made in JudgeServer.start

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self.judge_server.paths.append(self.path)
        if _route(self.path) in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": "local-judge", "object": "model"}]})
        else:
            self._send(404, _error(f"no route {self.path}", "not_found"))

    def do_POST(self) -> None:
        self.judge_server.paths.append(self.path)
        if _route(self.path) not in CHAT_PATHS:
            self._send(404, _error(f"no route {self.path}", "not_found"))
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as err:
            self._send(400, _error(f"bad request body: {err}", "bad_request"))
            return
        reply = self.judge_server._handle_chat(body, self.headers.get("Authorization", ""))
        if reply.action == "reset":
            self._reset()
        else:
            self._send_reply(reply)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_reply(_Reply(status, payload))

    def _send_reply(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test); nothing to tell it

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), no HTTP answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    """``python -m vleval.synthetic.judge_server [--port N]``: serve until Ctrl-C (dry runs)."""
    import argparse

    parser = argparse.ArgumentParser(description="A local deterministic stand-in for the OpenAI judge API.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--fault",
        choices=sorted(FAULT_MODES),
        help="misbehave on every chat request: " + "; ".join(f"{k}: {v}" for k, v in FAULT_MODES.items()),
    )
    args = parser.parse_args(argv)
    with JudgeServer(port=args.port) as server:
        if args.fault:
            server.inject(args.fault)
        print(
            f"local judge on {server.base_url} (use --judge-base-url {server.base_url}); Ctrl-C stops it",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
