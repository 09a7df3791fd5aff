"""Released checkpoints' own metadata against the cards and the loader (issue 23, item 2).

The files under ``tests/data/released/`` come from public repositories that copy a released
checkpoint's metadata (each file names its source). Only metadata is kept: no weights, no code.

- ``InternVL3_5-8B/config.json``: the config of OpenGVLab/InternVL3_5-8B, verbatim from
  github.com/YellowPerson792/ByteCaption at cb7151c0, ``InternVL3_5-8B/config.json``.
- ``InternVL3_5-8B/weight_index_names.json``: that repository's ``model.safetensors.index.json`` for
  the same checkpoint, condensed to its tensor names and ``total_size`` (the file says how).
- ``InternVL3-1B/config.json``: the config of OpenGVLab/InternVL3-1B as transformers printed it after
  loading the Hub repo (``print(model.config)``: transformers adds keys such as ``layer_types`` and
  ``use_bfloat16``), with the module tree printed beside it, in github.com/shivangjhalani/multicoco at
  7741240b, ``InternVL3-1B_data.md``. No weight index of it was found.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vleval.models.internvl.config import read_config
from vleval.models.internvl.modeling import InternVLModel
from vleval.models.internvl.weights import checkpoint_names
from vleval.models.registry import get_model

RELEASED = Path(__file__).resolve().parents[1] / "data" / "released"
BF16_BYTES = 2  # the released weights are bfloat16 (config.json: torch_dtype)


def _index_names(index: dict) -> set[str]:
    """The weight_map keys the condensed index stands for."""
    names = set(index["names"])
    for block in index["blocks"]:
        names |= {
            f"{block['prefix']}{i}.{suffix}" for i in range(block["layers"]) for suffix in block["suffixes"]
        }
    return names


def _model_on_meta(model_dir: Path) -> tuple[InternVLModel, str]:
    config = read_config(model_dir)
    with torch.device("meta"):  # shapes only: nothing allocated
        return InternVLModel(config), config.llm_family


@pytest.mark.parametrize("name", ["InternVL3_5-8B"])
def test_the_card_agrees_with_the_released_config(name: str) -> None:
    """LLM family, layer count and base LLM on the card are what the released config.json says."""
    card = get_model(name)
    config = read_config(RELEASED / name)
    assert config.llm_family == card.llm_family
    assert config.llm_num_layers == card.llm_layers
    assert config.llm["_name_or_path"].rsplit("/", 1)[-1] == card.base_llm  # ".../checkpoints/Qwen3-8B"
    assert (config.vision.hidden_size, config.num_image_token) == (1024, 256)  # InternViT-300M, 256 tokens


@pytest.mark.parametrize("name", ["InternVL3_5-8B"])
def test_the_loader_expects_exactly_the_released_weight_map(name: str) -> None:
    """The tensors the loader asks for, built from the released config, are the released index's
    weight_map keys: none missing, none left over (the check load_internvl makes before loading)."""
    model, family = _model_on_meta(RELEASED / name)
    index = json.loads((RELEASED / name / "weight_index_names.json").read_text(encoding="utf-8"))
    expected = {ckpt for param in dict(model.named_parameters()) for ckpt in checkpoint_names(param, family)}
    released = _index_names(index)
    assert len(released) == index["tensor_count"]
    assert expected == released


@pytest.mark.parametrize("name", ["InternVL3_5-8B"])
def test_parameter_shapes_add_up_to_the_released_size(name: str) -> None:
    """Every shape the config implies, summed in bf16, is the index's total_size to the byte, and the
    card's parameter count and download size round from it."""
    model, _ = _model_on_meta(RELEASED / name)
    index = json.loads((RELEASED / name / "weight_index_names.json").read_text(encoding="utf-8"))
    params = sum(p.numel() for p in model.parameters())
    assert params * BF16_BYTES == index["total_size"]
    card = get_model(name)
    assert card.params == f"{round(params / 1e9, 1):g}B"
    assert card.download_gb == round(index["total_size"] / 1e9, 1)


# InternVL3-1B's module tree as printed in the same file (``print(model)``): (module, in, out, bias)
INTERNVL3_1B_PRINTED_LAYERS = {
    "language_model.model.layers.0.self_attn.q_proj": (896, 896, True),
    "language_model.model.layers.0.self_attn.k_proj": (896, 128, True),
    "language_model.model.layers.0.self_attn.v_proj": (896, 128, True),
    "language_model.model.layers.0.self_attn.o_proj": (896, 896, False),
    "language_model.model.layers.0.mlp.gate_proj": (896, 4864, False),
    "language_model.model.layers.0.mlp.down_proj": (4864, 896, False),
    "language_model.lm_head": (896, 151674, False),
    "mlp1.1": (4096, 896, True),
    "mlp1.3": (896, 896, True),
    "vision_model.encoder.layers.23.attn.qkv": (1024, 3072, True),
    "vision_model.encoder.layers.23.mlp.fc1": (1024, 4096, True),
}


def test_internvl3_1b_card_and_module_shapes_agree_with_the_printed_release() -> None:
    """The InternVL3-1B card (Qwen2 family, 24 LLM layers, 0.9B) and the modules the loader builds from the
    printed config are those the released model printed: same layer sizes, 24 + 24 layers."""
    card = get_model("InternVL3-1B")
    model, family = _model_on_meta(RELEASED / "InternVL3-1B")
    assert (
        (family, len(model.language_model.model.layers))
        == (card.llm_family, card.llm_layers)
        == ("qwen2", 24)
    )
    assert len(model.vision_model.encoder.layers) == 24
    modules = dict(model.named_modules())
    for name, (inputs, outputs, bias) in INTERNVL3_1B_PRINTED_LAYERS.items():
        linear = modules[name]
        assert (linear.in_features, linear.out_features, linear.bias is not None) == (
            inputs,
            outputs,
            bias,
        ), name
    params = sum(p.numel() for p in model.parameters())
    assert card.params == f"{round(params / 1e9, 1):g}B"  # 938,193,024 -> 0.9B
