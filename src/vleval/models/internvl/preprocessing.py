"""Image tiling exactly as the reference feeds InternVL2.5 (``docs/model-protocol.md``).

Source of the algorithm: VLMEvalKit ``vlmeval/vlm/internvl/utils.py`` (``find_closest_aspect_ratio``,
``dynamic_preprocess``, ``load_image``, ``build_transform``), identical at b13a37db and e8e78f05, and
the same as InternVL's ``internvl_chat/internvl/train/dataset.py``.

An image becomes a grid of 448x448 tiles whose aspect ratio is closest to the image's, plus a 448x448
thumbnail of the whole image when the grid has more than one tile. Resizes use PIL's default filter
(BICUBIC for RGB), except the optional 2x upscale (BILINEAR).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # torch is imported where tensors are made: scoring imports this module without it
    import torch

IMAGE_SIZE = 448
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@lru_cache(maxsize=64)
def candidate_grids(max_tiles: int, min_tiles: int = 1) -> tuple[tuple[int, int], ...]:
    """All (columns, rows) grids with min_tiles <= columns * rows <= max_tiles, in the order the
    reference walks them.

    The reference builds a Python set and sorts it by tile count; a stable sort keeps the set's
    iteration order among equal counts. That order is a property of how the set was filled, so the
    set is filled by the same sequence of insertions (duplicates included) to get the same order.
    """
    grids: set[tuple[int, int]] = set()
    for n in range(min_tiles, max_tiles + 1):
        for i in range(1, n + 1):
            for j in range(1, n + 1):
                if min_tiles <= i * j <= max_tiles:
                    grids.add((i, j))
    return tuple(sorted(grids, key=lambda grid: grid[0] * grid[1]))


def find_grid(
    width: int, height: int, max_tiles: int, min_tiles: int = 1, image_size: int = IMAGE_SIZE
) -> tuple[int, int]:
    """(columns, rows) of the tile grid for a width x height image.

    Walk the candidates in order; a strictly closer aspect ratio wins. On an exact float tie the later
    (larger) grid wins only if the image covers more than half of that grid's canvas, so small images
    are not blown up. Starts from (1, 1) with an infinite distance.
    """
    aspect_ratio = width / height
    area = width * height
    best_diff = float("inf")
    best = (1, 1)
    for columns, rows in candidate_grids(max_tiles, min_tiles):
        diff = abs(aspect_ratio - columns / rows)
        if diff < best_diff:
            best_diff = diff
            best = (columns, rows)
        elif diff == best_diff and area > 0.5 * image_size * image_size * columns * rows:
            best = (columns, rows)
    return best


def dynamic_tiles(
    image: Image.Image, max_tiles: int, image_size: int = IMAGE_SIZE, use_thumbnail: bool = True
) -> list[Image.Image]:
    """Cut ``image`` into its grid's tiles (row-major), then append the thumbnail if there are several."""
    columns, rows = find_grid(image.width, image.height, max_tiles, image_size=image_size)
    # No resample argument on purpose: the reference relies on PIL's default (BICUBIC for RGB).
    resized = image.resize((image_size * columns, image_size * rows))
    tiles = []
    for k in range(columns * rows):
        left = (k % columns) * image_size
        top = (k // columns) * image_size
        tiles.append(resized.crop((left, top, left + image_size, top + image_size)))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size)))
    return tiles


def tile_count(width: int, height: int, max_tiles: int, upscale: bool = False) -> int:
    """How many tiles ``load_tiles`` makes of a width x height image, from its size alone (no pixels:
    a header read by ``Image.open`` is enough): the grid's tiles, plus the thumbnail when there are
    several; the 2x upscale doubles both sides first."""
    if upscale:
        width, height = width * 2, height * 2
    columns, rows = find_grid(width, height, max_tiles, image_size=IMAGE_SIZE)
    grid = columns * rows
    return grid + 1 if grid != 1 else grid


def load_tiles(image: Image.Image, max_tiles: int, upscale: bool = False) -> list[Image.Image]:
    """RGB conversion, optional 2x BILINEAR upscale (MMMU's first image), then tiling with thumbnail."""
    image = image.convert("RGB")
    if upscale:
        image = image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR)
    return dynamic_tiles(image, max_tiles, image_size=IMAGE_SIZE, use_thumbnail=True)


@lru_cache(maxsize=1)
def normalized_levels() -> np.ndarray:
    """[3, 256] float32: what ToTensor + Normalize make of each 8-bit level in each channel, computed
    with the same float32 operations in the same order as torchvision's (``level / 255``, then
    ``(x - mean) / std``). Both steps are elementwise, so looking a pixel's level up in this table
    gives the same bits as computing it, for a fraction of the time (one pass instead of five)."""
    import torch

    levels = torch.arange(256, dtype=torch.float32).div(255).view(1, 256)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1)
    return levels.sub(mean).div(std).numpy()


def tiles_to_tensor(tiles: Sequence[Image.Image]) -> torch.Tensor:
    """[n, 3, 448, 448] float32, contiguous: ToTensor (uint8 / 255) then ImageNet normalisation, bit for
    bit as torchvision computes them (through ``normalized_levels``)."""
    import torch

    if not tiles:
        raise ValueError("tiles_to_tensor needs at least one tile")
    arrays = []
    for tile in tiles:
        if tile.mode != "RGB":
            tile = tile.convert("RGB")
        if tile.size != (IMAGE_SIZE, IMAGE_SIZE):
            tile = tile.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(tile, dtype=np.uint8))
    levels = np.stack(arrays)  # [n, 448, 448, 3] uint8
    table = normalized_levels()
    pixels = np.empty((len(arrays), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for channel in range(3):  # uint8 indices never leave the table: "clip" skips the bounds check
        np.take(table[channel], levels[..., channel], out=pixels[:, channel], mode="clip")
    return torch.from_numpy(pixels)


def prepare_pixels(
    images: Sequence[Image.Image], max_tiles: int, upscale_first_image: bool
) -> tuple[torch.Tensor | None, list[int]]:
    """All images' tiles concatenated in order (each image's tiles, then its thumbnail) and the number
    of tiles per image. ``max_tiles`` is the per-image cap already reduced for several images.
    No images -> (None, [])."""
    import torch

    if not images:
        return None, []
    tensors = []
    tiles_per_image = []
    for position, image in enumerate(images):
        tiles = load_tiles(image, max_tiles, upscale=upscale_first_image and position == 0)
        tensors.append(tiles_to_tensor(tiles))
        tiles_per_image.append(len(tiles))
    return (tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)), tiles_per_image


# Modes PIL can write as JPEG (JpegImagePlugin.RAWMODE); the reference would fail on any other.
_JPEG_MODES = frozenset({"1", "L", "RGB", "RGBX", "CMYK", "YCbCr"})


def as_dumped(image: Image.Image, file_name: str) -> Image.Image:
    """The image as the reference reads it back after writing it to ``file_name``.

    VLMEvalKit decodes each benchmark image, converts RGBA/P/LA to RGB (alpha dropped), saves it under
    a name whose extension picks the format, with PIL's default settings, and the model reads that file
    (``vlmeval/smp/vlm.py::decode_base64_to_image_file``, ``ImageBaseDataset.dump_image``). A ``.jpg``
    name therefore means a lossy JPEG round trip (quality 75, 4:2:0); PNG is lossless and skipped. The
    round trip happens in memory; nothing is written to disk.
    """
    if image.mode in ("RGBA", "P", "LA"):
        image = image.convert("RGB")
    extension = Path(file_name).suffix.lower()
    image_format = Image.registered_extensions().get(extension, "PNG")
    if image_format == "PNG":
        return image
    if image_format == "JPEG" and image.mode not in _JPEG_MODES:
        image = image.convert("RGB")  # the reference raises here (e.g. 16-bit grey); keep going instead
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)  # no options: PIL's defaults, as Image.save(path) uses
    buffer.seek(0)
    reread = Image.open(buffer)
    reread.load()
    return reread
