"""vleval.transport's pure parts: addresses, redaction, scrubbing, reply reading, concurrency."""

from __future__ import annotations

import threading

import pytest

from vleval.transport import (
    content_text,
    endpoint_url,
    normalize_base_url,
    redact_url,
    reply_text,
    run_concurrently,
    scrub,
)


@pytest.mark.parametrize(
    ("url", "ensure_v1", "expected"),
    [
        ("https://api.openai.com/v1/chat/completions", False, "https://api.openai.com/v1"),
        ("http://h:8000/v1/", False, "http://h:8000/v1"),
        ("http://h:8000", True, "http://h:8000/v1"),
        ("http://h:8000/v1/chat/completions", True, "http://h:8000/v1"),
        (" http://h/openai/deployments/x/chat/completions?api-version=2024 ", False,
         "http://h/openai/deployments/x?api-version=2024"),
    ],
)  # fmt: skip
def test_normalize_base_url(url: str, ensure_v1: bool, expected: str) -> None:
    assert normalize_base_url(url, ensure_v1=ensure_v1) == expected


def test_endpoint_url_keeps_the_query_and_finds_the_server_root() -> None:
    assert endpoint_url("http://h/v1?key=k", "chat/completions") == "http://h/v1/chat/completions?key=k"
    assert endpoint_url("http://h/proxy/v1", "/tokenize") == "http://h/proxy/tokenize"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:secret@host:8000/v1", "http://***@host:8000/v1"),
        ("https://host/v1?key=AIzaXYZ", "https://host/v1?key=***"),
        ("https://host/v1?api-key=abc&api-version=2024-06-01", "https://host/v1?api-key=***&api-version=2024-06-01"),
        ("https://host/v1?api_key=abc", "https://host/v1?api_key=***"),
        ("https://host/v1?access_token=abc&sig=xyz", "https://host/v1?access_token=***&sig=***"),
        ("https://host/v1?x=sk-abcdef", "https://host/v1?x=***"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://host/v1?model=a%2Fb", "https://host/v1?model=a/b"),
    ],
)  # fmt: skip
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_scrub_removes_keys_authorization_values_and_url_credentials() -> None:
    key = "sk-live-0123456789"
    text = (
        f"bad key {key} (quoted: sk-live-0123456789) header {{'Authorization': 'Bearer {key}'}} "
        "authorization: Basic dXNlcjpwYXNz, x-api-key=zzz, calling http://u:p@h/v1?api-key=qqq"
    )
    scrubbed = scrub(text, [key, None, ""])
    for secret in (key, "dXNlcjpwYXNz", "zzz", "u:p@", "qqq"):
        assert secret not in scrubbed
    assert "Bearer ***" in scrubbed and "http://***@h/v1?api-key=***" in scrubbed
    assert scrub("nothing secret here", []) == "nothing secret here"
    assert scrub("someone else's key sk-proj-abcdefghijklmnop1234", []) == "someone else's key ***"


def test_url_secrets_for_scrubbing() -> None:
    from vleval.transport import url_secrets

    assert url_secrets("http://u:pw@h/v1?api-key=k1&model=m") == ["pw", "k1"]
    assert url_secrets("https://ghp_TOKEN@h/v1") == ["ghp_TOKEN"]
    assert url_secrets("http://h/v1") == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("text", "text"),
        (1.0, "1.0"),
        (7, "7"),
        ([{"type": "text", "text": "a"}, {"type": "image_url"}, "b"], "ab"),
        ({"type": "text", "text": "c"}, "c"),
        (None, None),
        (True, None),
        ([{"type": "image_url"}], None),
    ],
)
def test_content_text(content: object, expected: str | None) -> None:
    assert content_text(content) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"choices": [{"message": {"content": "x"}}]}, "x"),
        ({"choices": [{"message": "bare"}]}, "bare"),
        ({"choices": ["bare choice"]}, "bare choice"),
        ({"choices": [{"text": "completion"}]}, "completion"),
        ({"choices": []}, None),
        ({"choices": None}, None),
        ({"error": "x"}, None),
        ([1, 2], None),
        ({"choices": [{"message": {"content": None}}]}, None),
    ],
)
def test_reply_text(response: object, expected: str | None) -> None:
    assert reply_text(response) == expected


def test_run_concurrently_keeps_order_and_stops_on_the_first_error() -> None:
    assert run_concurrently(lambda x: x * 2, list(range(20)), 4) == [x * 2 for x in range(20)]
    assert run_concurrently(lambda x: x, [], 4) == []
    started: list[int] = []
    lock = threading.Lock()

    def fail_on_first(x: int) -> int:
        with lock:
            started.append(x)
        if x == 0:
            raise RuntimeError("boom")
        return x

    with pytest.raises(RuntimeError, match="boom"):
        run_concurrently(fail_on_first, list(range(200)), 1)
    assert started == [0]  # with one worker, nothing after the failure started
