import pytest

from vleval.errors import VlevalError
from vleval.models.internvl.loader import split_device_map


def _layers_by_gpu(device_map: dict[str, int], n_gpus: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n_gpus)]
    for name, gpu in device_map.items():
        if name.startswith("language_model.model.layers."):
            out[gpu].append(int(name.rsplit(".", 1)[1]))
    return [sorted(layers) for layers in out]


# Worked layouts of running.md §4.2 (VK@b13a37db vlmeval/vlm/internvl/utils.py::split_model) for 8 GPUs.
@pytest.mark.parametrize(
    ("model", "layers", "expected"),
    [
        (
            "26B",
            48,
            [
                [*range(0, 4), 47],
                [*range(4, 11)],
                [*range(11, 18)],
                [*range(18, 25)],
                [*range(25, 32)],
                [*range(32, 39)],
                [*range(39, 46)],
                [46],
            ],
        ),
        (
            "38B",
            64,
            [
                [*range(0, 5), 63],
                [*range(5, 14)],
                [*range(14, 23)],
                [*range(23, 32)],
                [*range(32, 41)],
                [*range(41, 50)],
                [*range(50, 59)],
                [*range(59, 63)],
            ],
        ),
        (
            "78B",
            80,
            [
                [*range(0, 6), 79],
                [*range(6, 17)],
                [*range(17, 28)],
                [*range(28, 39)],
                [*range(39, 50)],
                [*range(50, 61)],
                [*range(61, 72)],
                [*range(72, 79)],
            ],
        ),
    ],
)
def test_reference_layouts_on_eight_gpus(model, layers, expected):
    family = "internlm2" if model == "26B" else "qwen2"
    device_map = split_device_map(layers, 8, family)
    assert _layers_by_gpu(device_map, 8) == expected
    for block in (
        "vision_model",
        "mlp1",
        "language_model.model.embed_tokens",
        "language_model.model.norm",
        "language_model.lm_head",
        "language_model.model.rotary_emb",
    ):
        assert device_map[block] == 0


def test_every_layer_placed_once_for_any_gpu_count():
    for n_gpus in range(1, 9):
        device_map = split_device_map(24, n_gpus)
        assert sorted(sum(_layers_by_gpu(device_map, n_gpus), [])) == list(range(24))
    assert set(split_device_map(24, 1).values()) == {0}


def test_bad_arguments():
    with pytest.raises(VlevalError):
        split_device_map(24, 0)
    with pytest.raises(VlevalError):
        split_device_map(24, 2, "llama")


def test_a_device_map_places_blocks_and_keeps_outputs(tmp_path):
    import torch

    from vleval.models.internvl.loader import load_internvl
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    path = make_tiny_checkpoint(tmp_path / "qwen2", "qwen2")
    # the reference split of 2 layers over 2 "GPUs", both standing for the CPU here
    device_map = {name: "cpu" for name in split_device_map(2, 2, "qwen2")}
    split = load_internvl(path, device_map=device_map)
    plain = load_internvl(path)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.equal(split(ids), plain(ids))
    with pytest.raises(VlevalError, match="does not place"):
        load_internvl(path, device_map={"vision_model": "cpu"})
