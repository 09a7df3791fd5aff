"""Misbehaving HTTP servers for the network fault corpus, on 127.0.0.1 only, each a context manager.

- ``RecordingServer``: an OpenAI-compatible server that answers every chat request with ``answer``
  and records every request's headers: the place a redirect points to, where no key may arrive;
- ``RedirectServer``: answers every request with a 3xx to ``location`` (a compromised or moved
  endpoint);
- ``DripServer``: sends its headers, then one byte every ``interval`` seconds (or drips the headers
  themselves): a per-read socket timeout never fires on it;
- ``EchoServer``: answers an error whose text body echoes the request's key at ``pad`` characters,
  whole or cut to ``keep`` characters (careless proxies; a key straddling a message cut).

Everything stops by itself: a drip ends after ``max_seconds`` or when the client hangs up, and
``stop()`` (the ``with`` block's end) releases every handler.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that gave up mid-answer is what these servers are for


class LocalServer:
    """A real HTTP server on 127.0.0.1 and a free port; ``respond(handler)`` answers each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # method, path, headers of every request, in order
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd: _Server | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "use the server as a context manager"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def authorizations(self) -> list[str | None]:
        with self._lock:
            return [r["headers"].get("Authorization") for r in self.requests]

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self) -> LocalServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with server._lock:
                    server.requests.append(
                        {"method": self.command, "path": self.path, "headers": dict(self.headers.items())}
                    )
                self.close_connection = True
                try:
                    server.respond(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _any

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, **headers: str
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


class RecordingServer(LocalServer):
    """Answers every request as a chat completion whose text is ``answer``; records the headers."""

    def __init__(self, answer: str = "1.0") -> None:
        super().__init__()
        self.answer = answer

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        completion = {
            "id": "chatcmpl-recorded",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer}}],
        }
        send(handler, 200, json.dumps(completion).encode(), "application/json")


class RedirectServer(LocalServer):
    """Answers every request with ``status`` and ``Location: location``."""

    def __init__(self, location: str, status: int = 302) -> None:
        super().__init__()
        self.location = location
        self.status = status

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        send(handler, self.status, b'{"moved": true}', "application/json", Location=self.location)


class DripServer(LocalServer):
    """Headers, then one byte every ``interval`` seconds of a body announced as 1 MB; with
    ``headers=True`` the headers themselves arrive a byte at a time. Each answer ends after
    ``max_seconds``, when the client hangs up, or when the server stops."""

    def __init__(self, interval: float = 0.1, *, headers: bool = False, max_seconds: float = 20.0) -> None:
        super().__init__()
        self.interval = interval
        self.headers = headers
        self.max_seconds = max_seconds

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        end = time.monotonic() + self.max_seconds
        if self.headers:
            # the status line, then a header line that never ends
            drip: bytes = b"HTTP/1.1 200 OK\r\nX-Drip: " + b"x" * 10**6
        else:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(10**6))
            handler.end_headers()
            handler.wfile.flush()
            drip = b" " * 10**6
        for byte in drip:
            if self.stopping.is_set() or time.monotonic() > end:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            self.stopping.wait(self.interval)


class EchoServer(LocalServer):
    """Answers ``status`` with a text body: ``pad`` characters, then the request's key (the
    ``Authorization`` value without ``Bearer``), cut to ``keep`` characters when given."""

    def __init__(self, pad: int, keep: int | None = None, status: int = 500) -> None:
        super().__init__()
        self.pad = pad
        self.keep = keep
        self.status = status

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        key = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
        if self.keep is not None:
            key = key[: self.keep]
        body = ("e" * self.pad + key + " was rejected upstream").encode()
        send(handler, self.status, body, "text/plain")
