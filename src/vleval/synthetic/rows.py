"""Pieces of synthetic benchmark rows that several families' builders share (each family's
``synthetic_rows`` builds its own rows from them; ``vleval.synthetic.benchmarks`` writes the TSVs).

A leaf: it imports only the drawings (``vleval.synthetic.images``), so family modules can use it
without importing the TSV writer that dispatches back to them. Everything depends only on the
``random.Random`` passed in and the row number: same seed, same bytes.
"""

from __future__ import annotations

import math
import random
from typing import Any

from PIL import Image

from vleval.synthetic.images import COLOURS, SIZES, draw_shapes, encode, with_mode

NAN = math.nan
LETTERS = "ABCDEFGHIJ"
Row = dict[str, Any]


# size, mode and encoding vary with the row number so every file exercises them all
def shape_image(rng: random.Random, row: int, count: int = 3) -> tuple[str, list[tuple[str, str]]]:
    """A base64 image of ``count`` shapes and the (colour, shape) pairs drawn."""
    image, drawn = draw_shapes(rng, SIZES[row % len(SIZES)], count)
    return encode_varied(image, row), drawn


def encode_varied(image: Image.Image, row: int) -> str:
    """``image`` as base64, in a mode and format that vary with the row number (RGBA, P, LA; PNG, JPEG)."""
    if row % 7 == 3:
        return encode(with_mode(image, "RGBA"), "PNG")
    if row % 7 == 5:
        return encode(with_mode(image, "P"), "PNG")
    if row % 11 == 4:
        return encode(with_mode(image, "LA"), "PNG")
    return encode(image, "JPEG" if row % 2 == 0 else "PNG")


def shared_or_new(rng: random.Random, i: int, previous: tuple[str, list] | None) -> tuple[str, list, bool]:
    """Every fifth row reuses the previous row's image by naming its index (the reference's
    space saving); returns (image cell, shapes drawn, whether it is a reference)."""
    if i % 5 == 4 and previous is not None:
        return str(i - 1), previous[1], True
    image, drawn = shape_image(rng, i)
    return image, drawn, False


def colour_question(
    rng: random.Random, drawn: list[tuple[str, str]], n_options: int
) -> tuple[str, list[str], int]:
    """'What colour is the first shape?' with ``n_options`` colour names; returns (q, options, answer pos)."""
    colour, shape = drawn[0]
    wrong = [c for c in COLOURS if c != colour]
    rng.shuffle(wrong)
    options = [colour, *wrong[: n_options - 1]]
    rng.shuffle(options)
    return f"What colour is the first {shape} drawn in the image?", options, options.index(colour)


def pad_options(options: list[str], width: int) -> dict[str, Any]:
    """Option columns A.. for ``width`` letters, empty (NaN) past the given options."""
    return {LETTERS[i]: (options[i] if i < len(options) else NAN) for i in range(width)}
