"""The judge client against a real local HTTP server: answers, cache, retries, concurrency, secrecy."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from vleval.errors import JudgeUnavailableError
from vleval.judge.cache import CACHE_FILE_NAME, JudgeCache
from vleval.judge.client import JudgeUnavailableWarning, OpenAIJudge, make_judge, resolve_judge
from vleval.synthetic.judge_server import JudgeServer
from vleval.types import JUDGE_FAILURE_TEXT, JudgeRequest

SECRET = "sk-test-DO-NOT-LEAK-1234567890"


def judge_for(server: JudgeServer, tmp_path: Path | None = None, **kwargs) -> OpenAIJudge:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("retries", 3)
    cache = JudgeCache(tmp_path / "cache") if tmp_path is not None else None
    return OpenAIJudge("judge-model", base_url=server.base_url, api_key=SECRET, cache=cache, **kwargs)


def test_answers_in_order_with_the_reference_request_body(server: JudgeServer) -> None:
    judge = judge_for(server, short_name="gpt-4-turbo")
    requests = [
        JudgeRequest(prompt="hello"),
        JudgeRequest(
            prompt="[Assistant 1]\nx", system="You are a helpful assistant.", temperature=0.2, max_tokens=3
        ),
    ]
    assert judge.ask_many(requests) == ["Hello! This is the vleval local judge.", "8 6"]
    assert judge.ask_many([]) == []
    bodies = sorted(server.requests, key=lambda b: len(b["messages"]))
    assert bodies[0] == {
        "model": "judge-model",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "temperature": 0.0,
        "max_tokens": 2048,
    }
    assert bodies[1]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert (bodies[1]["temperature"], bodies[1]["max_tokens"]) == (0.2, 3)
    assert "n" not in bodies[1]  # n=1 only for openai.com
    assert server.auth_headers == [f"Bearer {SECRET}"] * 2


def test_rerun_hits_the_cache_and_makes_no_new_calls(server: JudgeServer, tmp_path: Path) -> None:
    requests = [JudgeRequest(prompt=f"q{i}") for i in range(5)] + [JudgeRequest(prompt="q0")]
    first = judge_for(server, tmp_path).ask_many(requests)
    assert server.request_count == 5  # the duplicate is asked once
    second_judge = judge_for(server, tmp_path)
    assert second_judge.ask_many(requests) == first
    assert server.request_count == 5
    assert second_judge.stats.cache_hits == 6
    # Another temperature, system prompt or model is another request.
    judge_for(server, tmp_path).ask(JudgeRequest(prompt="q0", temperature=0.5))
    OpenAIJudge("other-model", base_url=server.base_url, cache=JudgeCache(tmp_path / "cache")).ask(
        JudgeRequest(prompt="q0")
    )
    assert server.request_count == 7


def test_retries_429_and_500_then_succeeds(server: JudgeServer, tmp_path: Path) -> None:
    server.fail_next(1, 429, retry_after=0.01)
    server.fail_next(1, 500)
    server.fail_next(1, 503)
    judge = judge_for(server, tmp_path, retries=4)
    assert judge.ask(JudgeRequest(prompt="hello")) == "Hello! This is the vleval local judge."
    assert server.request_count == 4
    assert judge.stats.failures == 0


def test_exhausted_retries_give_failure_text_that_is_not_cached(server: JudgeServer, tmp_path: Path) -> None:
    server.fail_next(3, 500)
    judge = judge_for(server, tmp_path, retries=3)
    assert judge.ask_many([JudgeRequest(prompt="hello")]) == [JUDGE_FAILURE_TEXT]
    assert server.request_count == 3
    assert judge.stats.failures == 1
    assert "HTTP 500" in (judge.stats.last_error or "")
    # The failure was not cached: the next run asks again and gets the answer.
    assert judge_for(server, tmp_path).ask(JudgeRequest(prompt="hello")) != JUDGE_FAILURE_TEXT
    assert server.request_count == 4


def test_client_errors_are_not_retried(server: JudgeServer) -> None:
    server.fail_next(1, 400)
    judge = judge_for(server, retries=5)
    assert judge.ask(JudgeRequest(prompt="x")) == JUDGE_FAILURE_TEXT
    assert server.request_count == 1


def test_timeout_is_retried(server: JudgeServer) -> None:
    server.delay_next(1, 1.0)
    judge = judge_for(server, timeout=0.3)
    assert judge.ask(JudgeRequest(prompt="hello")) == "Hello! This is the vleval local judge."
    assert server.request_count == 2
    assert "timed out" in (judge.stats.last_error or "")


def test_unreachable_server_gives_failure_text() -> None:
    with JudgeServer() as gone:
        url = gone.base_url
    judge = OpenAIJudge("m", base_url=url, api_key=SECRET, retries=2, backoff_base=0.01, timeout=2)
    assert judge.ask(JudgeRequest(prompt="x")) == JUDGE_FAILURE_TEXT
    assert judge.stats.calls == 2
    assert "connection error" in (judge.stats.last_error or "")


def test_workers_run_requests_concurrently(tmp_path: Path) -> None:
    requests = [JudgeRequest(prompt=f"q{i}") for i in range(8)]
    with JudgeServer(delay_s=0.15) as server:
        assert len(judge_for(server, workers=4).ask_many(requests)) == 8
        assert server.peak_concurrency >= 2
        server.reset()
        judge_for(server, workers=1).ask_many(requests)
        assert server.peak_concurrency == 1
        assert server.request_count == 8


def test_api_key_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # The server rejects the key and echoes it back in its error, as careless proxies do.
    with JudgeServer(api_key="the-right-key") as server:
        judge = judge_for(server, tmp_path, retries=3, workers=1)
        with pytest.raises(JudgeUnavailableError, match="refused the API key") as raised:
            judge.ask_many([JudgeRequest(prompt="a"), JudgeRequest(prompt="b")])
        assert server.request_count == 1  # 401 stops the judge: no hammering with a bad key
    with JudgeServer() as server:
        ok = judge_for(server, tmp_path)
        ok.ask(JudgeRequest(prompt="stored"))
        ok.cache.close()
    seen = [
        str(raised.value),
        repr(judge),
        str(vars(judge)),
        str(judge.stats),
        judge.stats.last_error or "",
        caplog.text,
    ]
    assert "401" in judge.stats.last_error
    for text in seen:
        assert SECRET not in text
    for path in (tmp_path / "cache").iterdir():
        assert SECRET.encode() not in path.read_bytes()
    assert (tmp_path / "cache" / CACHE_FILE_NAME).exists()


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vleval.judge.cache import JudgeCache
    from vleval.judge.client import OpenAIJudge
    from vleval.types import JudgeRequest
    judge = OpenAIJudge("m", base_url=sys.argv[1], cache=JudgeCache(Path(sys.argv[2])), workers=1)
    judge.ask_many([JudgeRequest(prompt=f"q{i}") for i in range(6)])
    print("finished")
    """
)


def test_killed_run_keeps_answers_received(tmp_path: Path) -> None:
    child: list[subprocess.Popen] = []
    killed = threading.Event()

    def answer(model: str, messages: list[dict], temperature: float) -> str:
        if len(server.requests) == 4 and not killed.is_set():
            os.kill(child[0].pid, signal.SIGKILL)  # the run dies while its 4th request is in flight
            child[0].wait()
            killed.set()
        return "A"

    with JudgeServer(answer) as server:
        child.append(
            subprocess.Popen(
                [sys.executable, "-c", KILLED_RUN, server.base_url, str(tmp_path / "cache")],
                stdout=subprocess.PIPE,
            )
        )
        out, _ = child[0].communicate(timeout=60)
        assert killed.is_set() and b"finished" not in out
        assert server.request_count == 4
        judge = OpenAIJudge("m", base_url=server.base_url, cache=JudgeCache(tmp_path / "cache"))
        assert judge.ask_many([JudgeRequest(prompt=f"q{i}") for i in range(6)]) == ["A"] * 6
        assert judge.stats.cache_hits == 3
        assert server.request_count == 4 + 3


def test_corrupt_cache_file_is_reported_not_deleted(tmp_path: Path) -> None:
    from vleval.errors import DataCorruptError

    (tmp_path / CACHE_FILE_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataCorruptError, match=CACHE_FILE_NAME):
        JudgeCache(tmp_path)
    assert (tmp_path / CACHE_FILE_NAME).read_bytes().startswith(b"this is not sqlite")


# --------------------------------------------------------------------------------------------------
# make_judge: specs, defaults, environment
# --------------------------------------------------------------------------------------------------
def test_make_judge_maps_default_short_names(server: JudgeServer, tmp_path: Path) -> None:
    judge = make_judge(None, "chatgpt-0125", base_url=server.base_url, cache_dir=tmp_path)
    assert (judge.model, judge.short_name) == ("gpt-3.5-turbo-0125", "chatgpt-0125")
    judge = make_judge("gpt-4-turbo", "chatgpt-0125", base_url=server.base_url, cache_dir=tmp_path)
    assert (judge.model, judge.short_name) == ("gpt-4-1106-preview", "gpt-4-turbo")
    judge = make_judge("qwen2.5-72b-instruct", None, base_url=server.base_url, cache_dir=tmp_path)
    assert judge.model == "qwen2.5-72b-instruct"
    assert judge.ask(JudgeRequest(prompt="hello"))
    assert server.requests[-1]["model"] == "qwen2.5-72b-instruct"


@pytest.mark.parametrize("spec", ["none", "exact_matching", "NONE"])
def test_make_judge_none_specs(spec: str, server: JudgeServer) -> None:
    assert make_judge(spec, "gpt-4o-mini", base_url=server.base_url) is None


def test_no_default_judge_means_rule_based(server: JudgeServer) -> None:
    choice = resolve_judge(None, None, base_url=server.base_url)
    assert choice.judge is None and not choice.missing_credentials


def test_no_key_and_no_base_url_warns_and_returns_none() -> None:
    with pytest.warns(JudgeUnavailableWarning, match="OPENAI_API_KEY"):
        assert make_judge(None, "gpt-4o-mini") is None
    choice = resolve_judge(None, "gpt-4o-mini")
    assert choice.missing_credentials and "--judge-base-url" in choice.reason


def test_environment_full_chat_url_key_and_local_llm(
    server: JudgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.chat_url)  # the reference's full-URL form
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("LOCAL_LLM", "my-local-model")
    judge = make_judge(None, "gpt-4o-mini", cache_dir=tmp_path)
    assert (judge.model, judge.short_name) == ("my-local-model", "gpt-4o-mini")
    assert judge.ask(JudgeRequest(prompt="hello"))
    assert server.requests[-1]["model"] == "my-local-model"
    assert server.auth_headers[-1] == f"Bearer {SECRET}"
    assert SECRET not in repr(judge)
    # Explicit arguments win over the environment.
    with JudgeServer() as other:
        judge = make_judge(
            "gpt-4o", None, base_url=other.base_url, api_key="explicit", cache_dir=tmp_path / "2"
        )
        judge.ask(JudgeRequest(prompt="hello"))
        assert other.auth_headers == ["Bearer explicit"]
