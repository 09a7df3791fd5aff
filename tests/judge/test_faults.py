"""The judge against a misbehaving OpenAI-compatible server on 127.0.0.1, one fault mode at a time
(issue 10, judge items): failures are counted and never cached, auth errors and dead servers stop
the judge with one clear error, odd reply shapes are read or counted, secrets stay out of errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vleval.errors import JudgeUnavailableError, VlevalError
from vleval.judge.cache import CACHE_FILE_NAME, JudgeCache
from vleval.judge.client import OpenAIJudge, make_judge
from vleval.synthetic.judge_server import FAULT_MODES, JudgeServer
from vleval.types import JUDGE_FAILURE_TEXT, JudgeRequest

SECRET = "sk-fault-test-SECRET-0987654321"
HELLO = "Hello! This is the vleval local judge."


def judge_for(server: JudgeServer, tmp_path: Path | None = None, **kwargs) -> OpenAIJudge:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("retries", 2)
    kwargs.setdefault("timeout", 5.0)
    cache = JudgeCache(tmp_path / "cache") if tmp_path is not None else None
    return OpenAIJudge("judge-model", base_url=server.base_url, api_key=SECRET, cache=cache, **kwargs)


def mmvet_answer(model: str, messages: list[dict], temperature: float) -> str:
    return "1.0"


# --------------------------------------------------------------------------------------------------
# Item 1: failed calls are recorded, counted, never cached; auth errors stop at the first call
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [500, 429, "garbage", "empty_choices", "reset", "content_null"])
def test_a_failing_call_yields_the_failure_text_and_is_counted(
    fault: int | str, server: JudgeServer, tmp_path: Path
) -> None:
    if isinstance(fault, int):
        server.fail_next(2, fault)
    else:
        server.inject(fault, 2)
    judge = judge_for(server, tmp_path, workers=1, retries=2)
    answers = judge.ask_many([JudgeRequest(prompt="first"), JudgeRequest(prompt="hello")])
    assert answers == [JUDGE_FAILURE_TEXT, HELLO]
    stats = judge.stats
    assert (stats.failures, stats.answered, stats.calls) == (1, 1, 3)
    assert stats.last_error
    # Only the answer that arrived is cached: a re-run asks for the failed request alone.
    rerun = judge_for(server, tmp_path)
    assert rerun.ask_many([JudgeRequest(prompt="first"), JudgeRequest(prompt="hello")]) == [HELLO, HELLO]
    assert server.request_count == 4
    assert (rerun.stats.cache_hits, rerun.stats.answered, rerun.stats.failures) == (1, 1, 0)


def test_tally_counts_calls_cache_hits_failures_and_tokens(server: JudgeServer, tmp_path: Path) -> None:
    judge = judge_for(server, tmp_path, workers=1, retries=2)
    server.fail_next(1, 503)
    judge.ask_many([JudgeRequest(prompt="one two three"), JudgeRequest(prompt="four five")])
    judge.ask_many([JudgeRequest(prompt="one two three")])
    tally = judge.stats.as_dict()
    assert tally == {
        "calls": 3,
        "cache_hits": 1,
        "answered": 2,
        "failures": 0,
        "prompt_tokens": 3 + 2,  # the test server counts words
        "completion_tokens": 2 * len(HELLO.split()),
        "last_error": tally["last_error"],
    }
    assert "HTTP 503" in tally["last_error"]


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_error_stops_at_the_first_call(status: int, server: JudgeServer, tmp_path: Path) -> None:
    server.fail_next(100, status)
    judge = judge_for(server, tmp_path, workers=4, retries=5)
    with pytest.raises(JudgeUnavailableError, match=f"refused the API key.*HTTP {status}"):
        judge.ask_many([JudgeRequest(prompt=f"q{i}") for i in range(20)])
    assert server.request_count <= 4  # the requests already in flight, not 20 x 5
    # Asking again raises at once, without a call.
    count = server.request_count
    with pytest.raises(JudgeUnavailableError):
        judge.ask(JudgeRequest(prompt="again"))
    assert server.request_count == count
    assert isinstance(JudgeUnavailableError("x"), VlevalError)  # the CLI prints it as one line


def test_answers_received_before_an_auth_error_stay_cached(server: JudgeServer, tmp_path: Path) -> None:
    judge = judge_for(server, tmp_path, workers=1)
    judge.ask_many([JudgeRequest(prompt="a"), JudgeRequest(prompt="b")])
    server.fail_next(1, 401)
    with pytest.raises(JudgeUnavailableError, match="cached"):
        judge_for(server, tmp_path, workers=1).ask_many([JudgeRequest(prompt=p) for p in "abcd"])
    assert len(JudgeCache(tmp_path / "cache")) == 2


# --------------------------------------------------------------------------------------------------
# Item 2: odd but valid replies are read as text (or counted), never an exception
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["content_number", "content_parts", "message_string"])
def test_odd_reply_shapes_are_read_as_text(shape: str, tmp_path: Path) -> None:
    with JudgeServer(mmvet_answer) as server:
        server.inject(shape)
        judge = judge_for(server, tmp_path)
        assert judge.ask_many([JudgeRequest(prompt="grade this")]) == ["1.0"]
        assert judge.stats.failures == 0


def test_a_reply_without_text_is_a_failed_call_not_an_exception(server: JudgeServer) -> None:
    server.inject("content_null")
    judge = judge_for(server, retries=2)
    assert judge.ask(JudgeRequest(prompt="x")) == JUDGE_FAILURE_TEXT
    assert "no answer text" in judge.stats.last_error and "NoneType" in judge.stats.last_error
    assert server.request_count == 2


# --------------------------------------------------------------------------------------------------
# Item 3: deadlines: per-attempt timeout, total retry budget, unreachable after consecutive timeouts
# --------------------------------------------------------------------------------------------------
def test_a_judge_that_never_answers_is_declared_unreachable(server: JudgeServer, tmp_path: Path) -> None:
    server.inject("hang")
    judge = judge_for(server, tmp_path, workers=1, retries=3, timeout=0.2, max_consecutive_timeouts=4)
    with pytest.raises(JudgeUnavailableError, match="unreachable: 4 attempts in a row got no answer"):
        judge.ask_many([JudgeRequest(prompt=f"q{i}") for i in range(10)])
    assert server.request_count == 4  # not 10 requests x 3 attempts x the timeout


def test_a_dead_port_is_declared_unreachable() -> None:
    with JudgeServer() as gone:
        url = gone.base_url
    judge = OpenAIJudge(
        "m", base_url=url, workers=1, retries=2, backoff_base=0.01, max_consecutive_timeouts=3
    )
    with pytest.raises(JudgeUnavailableError, match="unreachable"):
        judge.ask_many([JudgeRequest(prompt=f"q{i}") for i in range(5)])
    assert judge.stats.calls == 3


def test_an_answer_resets_the_consecutive_timeout_count(server: JudgeServer) -> None:
    judge = judge_for(server, workers=1, retries=2, timeout=0.2, max_consecutive_timeouts=2)
    for _ in range(3):
        server.inject("reset", 1)
        assert judge.ask(JudgeRequest(prompt="hello")) == HELLO  # one reset, then an answer
    assert judge.stats.failures == 0


def test_the_retry_budget_bounds_one_request(server: JudgeServer) -> None:
    server.fail_next(1000, 503)
    judge = judge_for(server, retries=1000, backoff_base=0.05, retry_budget_s=0.5)
    assert judge.ask(JudgeRequest(prompt="x")) == JUDGE_FAILURE_TEXT
    assert "retry budget of 0.5s spent" in judge.stats.last_error
    assert server.request_count < 1000


def test_deadline_options_reach_the_judge_through_make_judge(server: JudgeServer, tmp_path: Path) -> None:
    judge = make_judge(
        "gpt-4o-mini",
        None,
        base_url=server.base_url,
        timeout=7.0,
        retry_budget_s=30.0,
        max_consecutive_timeouts=2,
        cache_dir=tmp_path,
    )
    endpoint = judge.endpoint
    assert (endpoint.timeout_s, endpoint.retry_budget_s, endpoint.max_consecutive_timeouts) == (7.0, 30.0, 2)


# --------------------------------------------------------------------------------------------------
# Item 4: a server that echoes the key: it appears in no error text, log, repr or cache file
# --------------------------------------------------------------------------------------------------
def test_an_echoed_key_is_scrubbed_everywhere(
    server: JudgeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject("echo_key")
    judge = judge_for(server, tmp_path, retries=2)
    assert judge.ask(JudgeRequest(prompt="x")) == JUDGE_FAILURE_TEXT
    assert SECRET in str(server.auth_headers)  # it was sent, and echoed back ...
    error = judge.stats.last_error
    assert "HTTP 500" in error and "Authorization" in error
    for text in (error, caplog.text, repr(judge), str(vars(judge)), str(judge.stats)):
        assert SECRET not in text  # ... and never kept
    assert SECRET.encode() not in (tmp_path / "cache" / CACHE_FILE_NAME).read_bytes()


def test_a_key_echoed_with_a_401_is_not_in_the_error(tmp_path: Path) -> None:
    with JudgeServer(api_key="the-right-key") as server:
        with pytest.raises(JudgeUnavailableError) as raised:
            judge_for(server, tmp_path).ask(JudgeRequest(prompt="x"))
    assert "Incorrect API key provided" in str(raised.value) and SECRET not in str(raised.value)


# --------------------------------------------------------------------------------------------------
# Item 5: a credential in the judge's URL is not what the judge shows
# --------------------------------------------------------------------------------------------------
def test_credentials_in_the_base_url_are_used_but_not_shown(server: JudgeServer) -> None:
    url = server.base_url.replace("http://", "http://alice:pa55word@") + "?api-key=" + SECRET
    judge = OpenAIJudge("m", base_url=url, retries=1)
    assert judge.ask(JudgeRequest(prompt="hello")) == HELLO
    assert server.paths[-1].endswith("/v1/chat/completions?api-key=" + SECRET)  # sent as given
    assert server.auth_headers[-1].startswith("Basic ")  # user:password@ becomes Basic auth
    assert judge.base_url == server.base_url.replace("http://", "http://***@") + "?api-key=***"
    for text in (repr(judge), judge.base_url, str(vars(judge)), str(vars(judge.endpoint))):
        assert "pa55word" not in text and SECRET not in text


def test_every_fault_mode_is_documented() -> None:
    assert set(FAULT_MODES) == {
        "garbage",
        "empty_choices",
        "reset",
        "hang",
        "echo_key",
        "content_number",
        "content_parts",
        "content_null",
        "message_string",
    }


def test_the_cache_never_stores_the_failure_text(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path)
    cache.put("k", "m", {"messages": []}, JUDGE_FAILURE_TEXT)
    assert cache.get("k") is None and len(cache) == 0
