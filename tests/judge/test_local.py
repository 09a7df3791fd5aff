"""The local open-weights judge (``--judge local:DIR``) on the tiny synthetic judge checkpoint, with
transformers on CPU: the model answers the protocol's judge prompts by its hand-set rule, through the
same cache as the API judge, keyed by its identity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vleval.datasets.scoring import judge_prompt
from vleval.errors import VlevalError
from vleval.judge.cache import JudgeCache
from vleval.judge.client import resolve_judge
from vleval.judge.info import judge_info, judge_label
from vleval.judge.local import (
    LocalJudge,
    chat_messages,
    check_judge_folder,
    judge_identity,
    local_judge_problem,
    release_engines,
)
from vleval.synthetic.judge_checkpoint import expected_answer, make_tiny_judge
from vleval.types import JUDGE_FAILURE_TEXT, JudgeRequest


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory) -> Path:
    return make_tiny_judge(tmp_path_factory.mktemp("judges") / "TinyJudge-Qwen2")


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    release_engines()


def _protocol_requests() -> list[JudgeRequest]:
    """One request per judge role, as the scorers build them."""
    return [
        JudgeRequest(judge_prompt("mcq_match_en.txt").format("What is it", "A. cat\nB. dog\nC. car\n", "B or maybe B")),
        JudgeRequest(judge_prompt("mcq_match_en.txt").format("What is it", "A. cat\nB. dog\nC. car\n", "C, C, C")),
        JudgeRequest(judge_prompt("yorn_match.txt").format("Is it red", "No, it is No"), max_tokens=1024),
        JudgeRequest(judge_prompt("yorn_match.txt").format("Is it red", "Yes. Yes it is"), temperature=0.5),
        JudgeRequest(judge_prompt("mmvet_fewshot.txt") + "\nWhat? | 3 | 3 | ", max_tokens=3),
        JudgeRequest(judge_prompt("llavabench_rule.txt"), system=judge_prompt("llavabench_system.txt"), temperature=0.2),
    ]  # fmt: skip


def test_the_checkpoint_is_a_native_qwen2_chat_model(tiny_judge: Path) -> None:
    config = json.loads((tiny_judge / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"] and "auto_map" not in config
    assert not list(tiny_judge.glob("*.py"))
    tokenizer_config = json.loads((tiny_judge / "tokenizer_config.json").read_text())
    assert tokenizer_config.get("chat_template") or (tiny_judge / "chat_template.jinja").is_file()
    assert check_judge_folder(tiny_judge)["model_type"] == "qwen2"


def test_answers_follow_the_rule_and_are_meaningful(tiny_judge: Path, tmp_path: Path) -> None:
    judge = LocalJudge(tiny_judge, cache=JudgeCache(tmp_path))
    requests = _protocol_requests()
    answers = judge.ask_many(requests)
    assert answers == [expected_answer(tiny_judge, chat_messages(r)) for r in requests]
    # the prompt's content decides: the letter the prediction names, the Y/N word, a grade, two scores
    assert answers[:4] == ["B", "C", "No", "Yes"]
    assert answers[4] in ("1.0", "0.5", "0.0")
    assert answers[5] == "8 6"
    stats = judge.stats
    assert (stats.calls, stats.answered, stats.failures, stats.cache_hits) == (6, 6, 0, 0)
    judge.close()


def test_batched_answers_equal_one_by_one(tiny_judge: Path) -> None:
    judge = LocalJudge(tiny_judge)
    requests = _protocol_requests()
    assert judge.ask_many(requests) == [judge.ask(r) for r in requests]


def test_cache_is_shared_and_keyed_by_the_judge_identity(tiny_judge: Path, tmp_path: Path) -> None:
    requests = _protocol_requests()
    first = LocalJudge(tiny_judge, cache=JudgeCache(tmp_path))
    answers = first.ask_many(requests)
    first.close()
    again = LocalJudge(tiny_judge, cache=JudgeCache(tmp_path))
    assert again.ask_many(requests) == answers
    assert (again.stats.calls, again.stats.cache_hits) == (0, len(requests))
    again.close()
    # the same folder name with other weights is another judge: nothing is reused
    other = tmp_path / "copy" / tiny_judge.name
    shutil.copytree(tiny_judge, other)
    config = json.loads((other / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (other / "config.json").write_text(json.dumps(config))
    assert judge_identity(other) != judge_identity(tiny_judge)
    assert judge_identity(tiny_judge).startswith("local:TinyJudge-Qwen2@")


def test_empty_greedy_answer_is_a_failure_and_not_cached(tiny_judge: Path, tmp_path: Path) -> None:
    # max_tokens=0 cannot produce an answer: the API judge's rule (empty = failed attempt) applies
    judge = LocalJudge(tiny_judge, cache=JudgeCache(tmp_path), retries=3)
    request = JudgeRequest("Answer: B", max_tokens=1)
    assert judge.ask(request) == "B"

    class Silent:
        name = "silent"

        def complete(self, generations):
            from vleval.judge.local import Completion

            return [Completion("", 10, 0) for _ in generations]

        def close(self):
            pass

    silent = LocalJudge(tiny_judge, cache=JudgeCache(tmp_path / "other"), retries=3, engine=Silent())
    assert (
        silent.ask_many([JudgeRequest("x"), JudgeRequest("y", temperature=0.5)]) == [JUDGE_FAILURE_TEXT] * 2
    )
    # greedy: asked once; sampled: retried up to the attempts
    assert (silent.stats.calls, silent.stats.failures) == (1 + 3, 2)
    assert len(silent.cache) == 0


def test_resolve_judge_builds_a_local_judge_and_labels_it_a_substitute(
    tiny_judge: Path, tmp_path: Path
) -> None:
    choice = resolve_judge(f"local:{tiny_judge}", "gpt-4o-mini", cache_dir=tmp_path, retries=3)
    judge = choice.judge
    assert isinstance(judge, LocalJudge) and judge.retries == 3
    info = judge_info(judge, "gpt-4o-mini")
    assert (info.kind, info.substitute, info.endpoint) == ("local", True, str(tiny_judge.resolve()))
    assert "substitute judge" in judge_label(info)
    # where the metric is rule-based (OCRBench, CRPE) no judge decides anything: not a substitute
    assert judge_info(judge, None).substitute is False
    judge.close()


def test_bad_folders_are_one_line_errors(tmp_path: Path, tiny_judge: Path) -> None:
    with pytest.raises(VlevalError, match="no such folder"):
        resolve_judge(f"local:{tmp_path / 'missing'}", None, cache_dir=tmp_path)
    remote = tmp_path / "remote-code"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"model_type": "internlm2", "auto_map": {}}))
    with pytest.raises(VlevalError, match="trust_remote_code"):
        resolve_judge(f"local:{remote}", None, cache_dir=tmp_path)
    no_template = tmp_path / "no-template"
    shutil.copytree(tiny_judge, no_template)
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((no_template / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(VlevalError, match="chat template"):
        LocalJudge(no_template)
    assert "chat template" in local_judge_problem(f"local:{no_template}")
    assert local_judge_problem(f"local:{tiny_judge}") is None and local_judge_problem("gpt-4o-mini") is None
