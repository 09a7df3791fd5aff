"""The local judge on vLLM (``VLEVAL_JUDGE_ENGINE=vllm`` or vLLM installed): the tiny synthetic judge
answers as its rule says and as the transformers engine does.

Needs vLLM: runs in the separate venv of ``.ci/vllm.sh``; skipped where vllm is not importable."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here (it lives in the venv of .ci/vllm.sh)")

from vleval.datasets.scoring import judge_prompt  # noqa: E402
from vleval.judge.cache import JudgeCache  # noqa: E402
from vleval.judge.local import LocalJudge, chat_messages, release_engines  # noqa: E402
from vleval.synthetic.judge_checkpoint import expected_answer, make_tiny_judge  # noqa: E402
from vleval.types import JudgeRequest  # noqa: E402

pytestmark = pytest.mark.vllm


def test_vllm_engine_answers_as_the_rule_and_the_transformers_engine(tmp_path: Path) -> None:
    folder = make_tiny_judge(tmp_path / "TinyJudge-Qwen2")
    requests = [
        JudgeRequest(judge_prompt("mcq_match_en.txt").format("What", "A. cat\nB. dog\n", "B, B")),
        JudgeRequest(judge_prompt("yorn_match.txt").format("Is it red", "No, No"), temperature=0.5),
        JudgeRequest(judge_prompt("mmvet_fewshot.txt") + "\nWhat? | 3 | 3 | ", max_tokens=3),
        JudgeRequest(judge_prompt("llavabench_rule.txt"), system=judge_prompt("llavabench_system.txt")),
    ]
    try:
        on_vllm = LocalJudge(folder, cache=JudgeCache(tmp_path / "a"), engine_kind="vllm")
        answers = on_vllm.ask_many(requests)
        assert on_vllm.engine.name == "vllm"
        assert on_vllm.tally.completion_tokens >= len(requests)
        on_transformers = LocalJudge(folder, cache=JudgeCache(tmp_path / "b"), engine_kind="transformers")
        assert answers == on_transformers.ask_many(requests)
        assert answers == [expected_answer(folder, chat_messages(r)) for r in requests]
    finally:
        release_engines()
