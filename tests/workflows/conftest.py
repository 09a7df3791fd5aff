from collections.abc import Iterator

import pytest

from vleval.synthetic.judge_server import JudgeServer


@pytest.fixture
def server() -> Iterator[JudgeServer]:
    with JudgeServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _no_judge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real judge settings must not leak into these tests (or these tests into the API).
    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM"):
        monkeypatch.delenv(name, raising=False)
