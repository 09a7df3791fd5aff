"""bench/parity_reference.py's reference worker restates two vleval rules because it imports nothing
from vleval (it runs under the reference's interpreter): the seed of a sampled row and the prediction
VLMEvalKit keeps of a thinking reply. These tests keep the restatements equal to vleval's own, so a
-Thinking parity run keeps comparing like with like; and InternVL3/3.5 run under 2026.08 only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from vleval.models.internvl.thinking import split_thinking
from vleval.models.sampling import request_seed
from vleval.types import GenerationSettings, Request

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import parity_reference  # noqa: E402


@pytest.mark.parametrize(
    ("run_seed", "dataset", "index"), [(0, "MMStar", 3), (0, "MMBench_DEV_EN_V11", 17), (2, "MMVet", 0)]
)
def test_worker_seeds_a_sampled_row_as_vleval_does(run_seed, dataset, index):
    request = Request(
        dataset=dataset,
        index=index,
        text="",
        images=[],
        max_tiles=6,
        generation=GenerationSettings(do_sample=True, temperature=0.6, top_p=0.95, seed=run_seed),
    )
    # the worker reads the index from VLMEvalKit's data frame as text
    assert parity_reference._row_seed(run_seed, dataset, str(index)) == request_seed(request)


@pytest.mark.parametrize(
    "reply",
    [
        "no tags at all",
        "<think>why</think>\n  B ",
        "<think>a</think>b</think> C",
        "reasoning without a start</think>A",
        "</think>",
        "<think>never finished",
    ],
)
def test_worker_keeps_the_prediction_vleval_scores(reply):
    assert (
        parity_reference._split_think_prediction(reply) == split_thinking(reply, False).reference_prediction
    )


def test_newer_generations_are_compared_under_2026_08_only():
    args = argparse.Namespace(models=list(parity_reference.MODELS), families=list(parity_reference.FAMILIES))
    assert parity_reference._models(args, "2024.12") == list(parity_reference.INTERNVL25_MODELS)
    assert parity_reference._models(args, "2026.08") == list(parity_reference.MODELS)
    args.families = ["qwen3_moe"]
    assert parity_reference._models(args, "2026.08") == ["InternVL3_5-30B-A3B"]
