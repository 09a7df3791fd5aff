import pytest


@pytest.fixture(autouse=True)
def _no_judge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in tests/judge: a developer's real judge settings must not leak into the workflows' judge calls
    # (or these tests into the API).
    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM"):
        monkeypatch.delenv(name, raising=False)
