"""Tiling must give the reference's tile grid (internvl25.md §3): the grid decides how many tiles, and so
how many image tokens, the model sees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vleval.models.internvl.preprocessing import (
    candidate_grids,
    dynamic_tiles,
    find_grid,
    load_tiles,
    prepare_pixels,
    tiles_to_tensor,
)

# (width, height) -> expected (columns, rows) at max_tiles 6, 12, 24; worked out by hand from §3.3.
GRID_TABLE = [
    ("tiny", 1, 1, (1, 1), (1, 1), (1, 1)),
    ("square at tile size", 448, 448, (1, 1), (1, 1), (1, 1)),  # 2x2 ties, area too small
    ("square", 1000, 1000, (2, 2), (3, 3), (3, 3)),  # 4x4 ties but 1e6 < half of its canvas
    ("huge square", 10000, 10000, (2, 2), (3, 3), (4, 4)),
    ("wide 4:1", 1000, 250, (4, 1), (4, 1), (4, 1)),
    ("very wide", 2000, 100, (6, 1), (12, 1), (20, 1)),
    ("tall 1:3", 300, 900, (1, 3), (1, 3), (1, 3)),
    ("tall", 448, 2000, (1, 5), (1, 5), (2, 9)),
    ("huge 4:3", 4000, 3000, (3, 2), (4, 3), (4, 3)),
    ("4:3", 800, 600, (3, 2), (4, 3), (4, 3)),
    ("500x400: tie keeps 1x1", 500, 400, (1, 1), (4, 3), (5, 4)),
    ("1000x800: ties move to 3x2", 1000, 800, (3, 2), (4, 3), (5, 4)),
]


@pytest.mark.parametrize(("label", "width", "height", "grid6", "grid12", "grid24"), GRID_TABLE)
def test_grid_table(label, width, height, grid6, grid12, grid24):
    assert find_grid(width, height, 6) == grid6, label
    assert find_grid(width, height, 12) == grid12, label
    assert find_grid(width, height, 24) == grid24, label


def test_candidate_counts_and_order():
    assert [len(candidate_grids(n)) for n in (6, 12, 18, 24)] == [14, 35, 58, 84]
    counts = [i * j for i, j in candidate_grids(12)]
    assert counts == sorted(counts)
    assert candidate_grids(6)[0] == (1, 1)


@pytest.mark.parametrize(
    ("width", "height", "max_tiles", "n_tiles"),
    [(1, 1, 6, 1), (500, 400, 6, 1), (1000, 800, 6, 7), (4000, 3000, 12, 13), (2000, 100, 24, 21)],
)
def test_tile_count_includes_thumbnail_only_for_several_tiles(width, height, max_tiles, n_tiles):
    tiles = load_tiles(Image.new("RGB", (width, height)), max_tiles)
    assert len(tiles) == n_tiles
    assert all(tile.size == (448, 448) for tile in tiles)


def test_tiles_are_row_major_and_thumbnail_last():
    image = Image.new("RGB", (896, 896), (255, 0, 0))  # grid 2x2 at max 6
    image.paste((0, 0, 255), (448, 0, 896, 448))  # top right blue
    image.paste((0, 255, 0), (0, 448, 448, 896))  # bottom left green
    tiles = dynamic_tiles(image, 6)
    assert len(tiles) == 5
    centre = (224, 224)
    assert [tile.getpixel(centre) for tile in tiles[:4]] == [
        (255, 0, 0),
        (0, 0, 255),
        (0, 255, 0),
        (255, 0, 0),
    ]
    thumbnail = tiles[4]
    assert thumbnail.getpixel((100, 100)) == (255, 0, 0)
    assert thumbnail.getpixel((340, 100)) == (0, 0, 255)


def test_resize_uses_pil_default_bicubic():
    image = Image.linear_gradient("L").convert("RGB").resize((700, 300), Image.Resampling.NEAREST)
    columns, rows = find_grid(700, 300, 6)
    expected = image.resize((448 * columns, 448 * rows), Image.Resampling.BICUBIC).crop((0, 0, 448, 448))
    assert dynamic_tiles(image, 6)[0].tobytes() == expected.tobytes()


def test_non_rgb_input_is_converted():
    tiles = load_tiles(Image.new("RGBA", (100, 100), (10, 20, 30, 0)), 6)
    assert tiles[0].mode == "RGB"
    assert tiles[0].getpixel((5, 5)) == (10, 20, 30)  # alpha dropped, not composited


def test_tensor_is_imagenet_normalised_float32():
    white = Image.new("RGB", (448, 448), (255, 255, 255))
    black = Image.new("RGB", (448, 448), (0, 0, 0))
    pixels = tiles_to_tensor([white, black])
    assert pixels.shape == (2, 3, 448, 448) and pixels.dtype == torch.float32
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    assert torch.equal(pixels[0, :, 0, 0], (1.0 - mean) / std)
    assert torch.equal(pixels[1, :, 7, 9], (0.0 - mean) / std)
    grey = tiles_to_tensor([Image.new("RGB", (448, 448), (128, 64, 32))])
    expected = (torch.tensor([128, 64, 32], dtype=torch.float32).div(255) - mean) / std
    assert torch.equal(grey[0, :, 100, 100], expected)


def test_tensor_equals_torchvisions_operations_bit_for_bit_at_every_level():
    # the lookup table must give what ToTensor + Normalize compute, for all 256 levels in each channel
    levels = np.zeros((448, 448, 3), dtype=np.uint8)
    levels[:256, 0, 0] = np.arange(256)
    levels[:256, 1, 1] = np.arange(255, -1, -1)
    levels[:256, 2, 2] = np.arange(256)
    levels[256:, :, :] = np.random.default_rng(0).integers(0, 256, (192, 448, 3), dtype=np.uint8)
    pixels = tiles_to_tensor([Image.fromarray(levels)])
    computed = torch.from_numpy(levels).permute(2, 0, 1).to(torch.float32).div(255)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32).view(3, 1, 1)
    expected = computed.sub(mean).div(std)
    assert pixels.is_contiguous()
    assert torch.equal(pixels[0].view(torch.int32), expected.view(torch.int32))


def test_prepare_pixels_concatenates_and_upscales_only_the_first_image():
    # 500x500: 2x2 ties with 1x1 but is too small for it -> 1 tile; upscaled to 1000x1000 -> 2x2 + thumbnail.
    small = Image.new("RGB", (500, 500), (1, 2, 3))
    pixels, tiles_per_image = prepare_pixels([small, small], max_tiles=12, upscale_first_image=True)
    assert tiles_per_image == [10, 1]  # 1000x1000 at max 12 -> 3x3 + thumbnail
    assert pixels is not None and pixels.shape == (11, 3, 448, 448)
    _, plain = prepare_pixels([small], max_tiles=6, upscale_first_image=False)
    _, upscaled = prepare_pixels([small], max_tiles=6, upscale_first_image=True)
    assert (plain, upscaled) == ([1], [5])


def test_prepare_pixels_without_images():
    assert prepare_pixels([], max_tiles=6, upscale_first_image=False) == (None, [])
