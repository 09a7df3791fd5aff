"""Small deterministic PIL drawings for synthetic benchmark rows: shapes, text, bar charts.

Everything depends only on the ``random.Random`` passed in, so the same seed gives the same pixels
(and, with the same Pillow, the same encoded bytes).
"""

from __future__ import annotations

import base64
import io
import random

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (140, 60, 170),
    "orange": (240, 140, 30),
}
SHAPES = ("circle", "square", "triangle")
# (width, height) classes that exercise tiling: tiny, ordinary, wide, tall, square-ish large
SIZES = ((24, 18), (320, 240), (896, 160), (150, 640), (500, 470))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap font without sizes
        return ImageFont.load_default()


def draw_shapes(
    rng: random.Random, size: tuple[int, int], count: int = 3
) -> tuple[Image.Image, list[tuple[str, str]]]:
    """An image with ``count`` coloured shapes; returns it and the (colour, shape) drawn, in order."""
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    drawn = []
    for _ in range(count):
        colour = rng.choice(list(COLOURS))
        shape = rng.choice(SHAPES)
        side = max(2, min(width, height) // 3)
        x0 = rng.randrange(0, max(1, width - side))
        y0 = rng.randrange(0, max(1, height - side))
        box = (x0, y0, x0 + side, y0 + side)
        if shape == "circle":
            draw.ellipse(box, fill=COLOURS[colour])
        elif shape == "square":
            draw.rectangle(box, fill=COLOURS[colour])
        else:
            draw.polygon(
                [(x0, y0 + side), (x0 + side // 2, y0), (x0 + side, y0 + side)], fill=COLOURS[colour]
            )
        drawn.append((colour, shape))
    return image, drawn


def draw_text(text: str, size: tuple[int, int] = (320, 80), font_size: int = 24) -> Image.Image:
    """Black text on white, wrapped to the width (OCR rows)."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = _font(font_size)
    draw.multiline_text((6, 6), text, fill=(0, 0, 0), font=font)
    return image


def draw_bar_chart(values: list[int], size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Bars with their values written above them (MathVista-style rows)."""
    width, height = size
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    font = _font(12)
    top = max(values) or 1
    slot = width // (len(values) + 1)
    for i, value in enumerate(values):
        x0 = slot // 2 + i * slot
        bar_height = int((height - 30) * value / top)
        draw.rectangle((x0, height - bar_height - 5, x0 + slot // 2, height - 5), fill=(60, 110, 200))
        draw.text((x0, max(0, height - bar_height - 20)), str(value), fill=(0, 0, 0), font=font)
    return image


def encode(image: Image.Image, fmt: str = "PNG") -> str:
    """base64 of the image encoded as ``fmt`` (PNG or JPEG), as the reference TSVs store images."""
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def with_mode(image: Image.Image, mode: str) -> Image.Image:
    """The image in another PIL mode (RGBA, P, LA, L) so loaders' mode handling is exercised."""
    if mode == "P":
        return image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    if mode == "RGBA":
        rgba = image.convert("RGBA")
        rgba.putalpha(200)
        return rgba
    return image.convert(mode)
