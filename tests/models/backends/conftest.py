"""Fixtures for the backend tests: tiny checkpoints of both LLM families and a small workload that
exercises what the backends must get right (tile counts, several images, MMMU's upscale, no image,
MPO post-processing)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.images import draw_shapes, with_mode
from vleval.types import GenerationSettings, Request

FAMILIES = ("qwen2", "internlm2")
MCQ_SUFFIX = "\nAnswer with the option's letter from the given choices directly."


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    return {family: make_tiny_checkpoint(root / family, family) for family in FAMILIES}


def _image(seed: int, size: tuple[int, int]):
    return draw_shapes(random.Random(seed), size)[0]


@pytest.fixture(scope="session")
def workload() -> list[Request]:
    """Eight requests, one per situation the prompt or the tiling must handle."""
    settings = GenerationSettings(max_new_tokens=16)

    def request(index: int, text: str, images: list, max_tiles: int = 6, **kw) -> Request:
        return Request("Synthetic", index, text, images, max_tiles, generation=settings, **kw)

    return [
        request(
            0, "<image>\nWhich shape is red?\nA. circle\nB. square" + MCQ_SUFFIX, [_image(0, (448, 448))]
        ),
        request(1, "<image>\nDescribe the image.", [_image(1, (1000, 800))]),  # 3x2 grid + thumbnail
        request(2, "<image>\nWhat is tall?", [_image(2, (200, 900))]),
        request(3, "<image>\nRead the text.", [_image(3, (1600, 300))], max_tiles=24),  # OCRBench cap
        request(
            4,
            "Image-1: <image>\nImage-2: <image>\nCompare the two <image 1> pictures." + MCQ_SUFFIX,
            [_image(4, (500, 400)), _image(5, (640, 480))],
            max_tiles=12,
            upscale_first_image=True,  # MMMU
        ),
        request(
            5,
            "<image>\nIs there a circle? Please answer yes or no.",
            [with_mode(_image(6, (300, 300)), "RGBA")],
        ),
        request(6, "Count from one to five.", []),
        request(7, "<image>\nFinal answer please.", [_image(7, (800, 600))], postprocess="mpo"),
    ]
