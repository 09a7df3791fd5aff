"""InternVL3.5 thinking mode: the reference's R1 prompt and settings, its reading of a reply, and the
censoring of replies that never reached an answer."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from vleval.models.internvl.thinking import mark_censored, reference_thinking_settings, split_thinking
from vleval.stats.core import censoring_bounds, is_censored
from vleval.types import RowResult


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        ("r1_system.txt", "a2cb9e8de918a3e379ee49845f6ebc851d6f449b4d88f6523d2b49edae502101"),
        ("r1_cot.txt", "4b4c9d7e78f31a7cbcbd7222b6606651e12bf243a46663f341837082a46335cd"),
    ],
)
def test_r1_prompt_files_are_byte_exact(name, sha256):
    data = resources.files("vleval").joinpath("data", "prompts", name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256


def test_reference_thinking_settings():
    """VLMEvalKit e8e78f05 ``InternVL3_5-*-Thinking``: 2**16 new tokens, sampled at 0.6 / 0.95."""
    settings = reference_thinking_settings()
    assert (settings.max_new_tokens, settings.do_sample, settings.temperature, settings.top_p) == (
        65536,
        True,
        0.6,
        0.95,
    )
    assert settings.system_prompt.startswith("You are an AI assistant that rigorously follows")
    assert settings.system_prompt.endswith("not reference the thinking section.")
    assert "within <think> and </think> tags" in settings.system_prompt
    assert settings.cot_prompt == "Please answer the question and put the final answer within \\boxed{}."


def test_answer_is_the_text_after_think_end():
    reply = split_thinking("<think>\nThe sign is red, so A.\n</think>\n\nA", hit_token_limit=False)
    assert (reply.reference_prediction, reply.reasoning, reply.censored) == (
        "A",
        "The sign is red, so A.",
        None,
    )
    assert reply.answer == "A"


def test_several_think_ends_keep_the_text_after_the_last_as_the_reference():
    reply = split_thinking("first</think> second</think> B", hit_token_limit=False)
    assert reply.reference_prediction == "B"
    assert reply.reasoning == "first</think> second</think>"


def test_a_reply_without_think_end_is_censored_not_an_answer():
    """The reference scores the unfinished reasoning as the prediction; vleval keeps that number for
    the pinned protocol but marks the row censored, so it is never counted as a normal answer."""
    reply = split_thinking("<think>Let me look at option A. It could be B", hit_token_limit=False)
    assert reply.reference_prediction == "<think>Let me look at option A. It could be B"
    assert reply.censored == "no_think_end" and reply.answer is None


def test_a_budget_hit_is_censored_even_after_think_end():
    reply = split_thinking("<think>long</think> The answer is", hit_token_limit=True)
    assert reply.censored == "token_limit" and reply.answer is None
    assert split_thinking("<think>never ends", hit_token_limit=True).censored == "token_limit"


def test_censored_rows_are_counted_and_bound_the_score():
    replies = [
        split_thinking("<think>a</think>A", False),  # right
        split_thinking("<think>b</think>B", False),  # wrong
        split_thinking("<think>A is right because", False),  # no </think>: scored as the reference does
        split_thinking("<think>x</think>A", True),  # budget hit
    ]
    scores = [1.0, 0.0, 1.0, 1.0]  # what the reference's scorer gives the reference predictions
    rows = [
        mark_censored(
            RowResult(index=i, unit=str(i), score=s, decided_by="rule", prediction=r.reference_prediction), r
        )
        for i, (r, s) in enumerate(zip(replies, scores, strict=True))
    ]
    assert [is_censored(r) for r in rows] == [False, False, True, True]
    assert rows[2].extra["thinking_censored"] == "no_think_end" and not rows[2].hit_token_limit
    assert rows[3].hit_token_limit
    assert rows[0] is not None and rows[0].extra == {}

    def accuracy(rs):
        return 100 * sum(r.score for r in rs) / len(rs)

    assert accuracy(rows) == 75.0  # the pinned protocol's number is unchanged...
    assert censoring_bounds(rows, accuracy, best_score=1.0) == (25.0, 75.0)  # ...and shown with its bounds


def _sample(**kw):
    from vleval.types import Sample

    base = dict(
        dataset="MMStar", index=3, question="What colour is the car?", options={"A": "red", "B": "blue"}
    )
    return Sample(**{**base, **kw})


def test_a_thinking_request_is_the_reference_r1_request():
    """The wrapper with ``cot_prompt_version="r1"``: the R1 system message, the r1 CoT text in place of
    both default CoT texts, sampled decoding, 2**16 new tokens and the answer read after </think>;
    the plain entry of the same checkpoint keeps the greedy V2.0 request."""
    from vleval.datasets.registry import get_benchmark
    from vleval.models.internvl.prompts import MCQ_DIRECT_SUFFIX, build_request, prompt_text
    from vleval.models.registry import get_model
    from vleval.protocol import get_protocol

    card, protocol = get_benchmark("MMStar"), get_protocol("2026.08")
    thinking, plain = get_model("InternVL3_5-8B-Thinking"), get_model("InternVL3_5-8B")
    settings = reference_thinking_settings()
    request = build_request(_sample(), card, thinking, protocol, cot=True, images=[])
    assert request.system_message == settings.system_prompt and request.postprocess == "think"
    assert request.text.endswith("\n" + settings.cot_prompt) and MCQ_DIRECT_SUFFIX not in request.text
    generation = request.generation
    assert (generation.do_sample, generation.temperature, generation.top_p) == (True, 0.6, 0.95)
    assert generation.max_new_tokens == 2**16
    direct = build_request(_sample(), card, thinking, protocol, cot=False, images=[])
    assert direct.text.endswith(MCQ_DIRECT_SUFFIX)  # without CoT the question is asked as for any model
    greedy = build_request(_sample(), card, plain, protocol, cot=True, images=[])
    assert greedy.system_message is None and greedy.postprocess == "none" and not greedy.generation.do_sample
    assert greedy.text.endswith(prompt_text("mcq_cot.txt"))


def test_the_think_postprocessing_is_the_reference_prediction():
    from vleval.models.internvl.postprocess import postprocess

    assert postprocess("think", "<think>a</think>x</think>\n B ") == "B"
    assert postprocess("think", "no end of thinking") == "no end of thinking"


def test_each_sampled_row_draws_from_its_own_seed():
    """Same run seed and row: same seed wherever the row falls; another run seed or row: another one;
    greedy requests have none."""
    import dataclasses

    from vleval.models.sampling import request_seed
    from vleval.types import GenerationSettings, Request

    sampled = GenerationSettings(do_sample=True, temperature=0.6, top_p=0.95, seed=0)
    request = Request("MMStar", 3, "q", [], 6, generation=sampled)
    assert request_seed(request) == request_seed(dataclasses.replace(request))
    assert request_seed(request) != request_seed(dataclasses.replace(request, index=4))
    other = dataclasses.replace(request, generation=dataclasses.replace(sampled, seed=1))
    assert request_seed(request) != request_seed(other)
    assert request_seed(dataclasses.replace(request, generation=GenerationSettings())) is None
