"""Sampled decoding made reproducible: each request draws from its own seed.

A sampled request (``GenerationSettings.do_sample``, e.g. an InternVL3.5 thinking entry) starts
generation from a seed derived from the run's sampling seed and the row (benchmark and index), not
from where the row falls in the run: the same seed gives the same prediction whether the row is
inferred first, last, after a resume or on another rank. The hf backend seeds torch's generator with
it before the row's ``generate`` (``torch.manual_seed``); rows batched together (CUDA, batch size > 1)
share the first row's seed, so there a prediction also depends on its batch, as any batched sampling does.
"""

from __future__ import annotations

import hashlib
from typing import Any

from vleval.types import Request


def request_seed(request: Request) -> int | None:
    """The seed this request's generation starts from; None for greedy decoding (nothing to seed)."""
    generation = request.generation
    if not generation.do_sample:
        return None
    text = f"{generation.seed or 0}|{request.dataset}|{request.index}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def decoding_params(request: Request) -> dict[str, Any]:
    """An engine's decoding parameters for ``request`` (vLLM's ``SamplingParams``, an OpenAI-compatible
    body): greedy, or sampled at its temperature and top_p from its own seed."""
    generation = request.generation
    if not generation.do_sample:
        return {"temperature": 0.0}
    return {
        "temperature": generation.temperature if generation.temperature is not None else 1.0,
        "top_p": generation.top_p if generation.top_p is not None else 1.0,
        "seed": request_seed(request),
    }
