"""`vleval eval` against a misbehaving judge server (issue 10, items 1-3 end to end): a refused key and a
judge that never answers stop with one line; odd reply shapes score; a re-run retries only failed rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer, message_text, rule_based_answer

KEY = "sk-eval-SECRET-13579bdf2468"


@pytest.fixture(autouse=True)
def _judge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_LLM", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _predictions(tmp_path: Path, name: str, text: str) -> Path:
    make_benchmark_tsv(name, tmp_path / "data", n=4, seed=2)
    table = load_table(get_benchmark(name), get_protocol(), root=tmp_path / "data", verify_md5=False)
    return write_prediction_file(tmp_path / f"M_{name}.xlsx", table, {i: text for i in table["index"]})


def _eval(tmp_path: Path, name: str, pred: Path, server: JudgeServer, *extra: str) -> int:
    return main([
        "eval", "--data", name, "--pred", str(pred), "--judge-base-url", server.base_url,
        "--data-dir", str(tmp_path / "data"), "--skip-md5-check", *extra,
    ])  # fmt: skip


def _one_line(err: str, marker: str) -> str:
    assert "Traceback" not in err and KEY not in err
    [line] = [x for x in err.splitlines() if marker in x]
    return line


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_eval_at_the_first_call(
    status: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred = _predictions(tmp_path, "MMVet", "a cat")
    with JudgeServer() as server:
        server.fail_next(1000, status)
        code = _eval(tmp_path, "MMVet", pred, server, "--judge-workers", "1")
        assert server.request_count == 1
    line = _one_line(capsys.readouterr().err, "refused the API key")
    assert code == 2 and f"HTTP {status}" in line


def test_a_judge_that_never_answers_stops_eval_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred = _predictions(tmp_path, "MMVet", "a cat")
    with JudgeServer() as server:
        server.inject("hang")
        code = _eval(tmp_path, "MMVet", pred, server, "--judge-timeout", "0.2", "--judge-workers", "1")
        assert server.request_count == 5  # the default count of attempts in a row without an answer
    line = _one_line(capsys.readouterr().err, "unreachable")
    assert code == 2 and "5 attempts in a row got no answer" in line


@pytest.mark.parametrize("shape", ["content_number", "content_parts", "message_string"])
def test_odd_reply_shapes_score_normally(
    shape: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred = _predictions(tmp_path, "MMVet", "a cat")
    with JudgeServer(lambda model, messages, temperature: "1.0") as server:
        server.inject(shape)
        code = _eval(tmp_path, "MMVet", pred, server)
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "M_MMVet_score.json").read_text())
    assert record["complete"] is True and record["counts"]["failed"] == 0
    assert record["headline"] == pytest.approx(100.0)


def test_a_rerun_asks_only_the_rows_whose_judge_call_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_benchmark_tsv("MMStar", tmp_path / "data", n=4, seed=2)
    table = load_table(get_benchmark("MMStar"), get_protocol(), root=tmp_path / "data", verify_md5=False)
    unlucky = str(table["index"].iloc[0])
    pred = write_prediction_file(
        tmp_path / "M_MMStar.xlsx", table, {i: f"I would rather not say ({i})" for i in table["index"]}
    )
    failing = [True]

    def answer(model: str, messages: list[dict], temperature: float) -> str:
        if failing[0] and f"({unlucky})" in message_text(messages):
            return ""  # an empty answer is a failed call, every attempt
        return rule_based_answer(model, messages, temperature)

    with JudgeServer(answer) as server:
        assert _eval(tmp_path, "MMStar", pred, server, "--judge-workers", "1") == 1
        line = _one_line(capsys.readouterr().err, "judge call failed")
        assert "1 of 4 row(s)" in line and "empty answer" in line
        failing[0] = False
        server.reset()
        assert _eval(tmp_path, "MMStar", pred, server, "--judge-workers", "1") == 0
        assert [f"({unlucky})" in message_text(body["messages"]) for body in server.requests] == [True]
    record = json.loads((tmp_path / "M_MMStar_score.json").read_text())
    assert record["complete"] is True and record["counts"]["failed"] == 0
