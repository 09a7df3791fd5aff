"""The transformers-native -HF layout (``vleval.models.internvl.hf_native``): a tiny -HF checkpoint converted
from the same random weights as a tiny original-layout one runs through transformers'
``InternVLForConditionalGeneration`` with the same prompts, tiles and predictions; verification reads
its structure as the original's; an LLM without a native class is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from safetensors import safe_open

from vleval.cli import main
from vleval.errors import DataCorruptError, VlevalError
from vleval.models.registry import MODELS, get_model
from vleval.models.verify import verify_checkpoint

DATASETS = {"MMStar": 4, "OCRBench": 3}


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> Path:
    """``models/InternVL3-1B`` (original layout, Qwen2.5 LLM) and ``models/InternVL3-1B-hf``, one seed."""
    from vleval.synthetic.checkpoints import make_tiny_checkpoint, make_tiny_hf_checkpoint

    models = tmp_path_factory.mktemp("models")
    make_tiny_checkpoint(models / "InternVL3-1B", "qwen2", seed=0)
    make_tiny_hf_checkpoint(models / "InternVL3-1B-hf", "qwen2", seed=0)
    return models


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from vleval.synthetic.benchmarks import make_benchmark_tsv

    root = tmp_path_factory.mktemp("LMUData")
    for name, n in DATASETS.items():
        make_benchmark_tsv(name, root, n=n, seed=0)
    return root


def _run(model: str, models: Path, data_dir: Path, work: Path) -> int:
    return main(
        ["run", "--model", model, "--model-dir", str(models), "--data", *DATASETS, "--data-dir", str(data_dir),
         "--work-dir", str(work), "--skip-md5-check", "--max-new-tokens", "12", "--judge", "none",
         "--device", "cpu", "--batch-size", "1", "--save-prompts", "--no-progress"]
    )  # fmt: skip


def test_the_hf_twin_gives_the_same_prompts_tiles_and_predictions(twins, data_dir, tmp_path):
    """bf16 greedy on CPU, the reference attention: transformers' InternVL modules compute the original's
    image features and tokens bit for bit, so every prediction of the -HF repo equals the original's."""
    work = tmp_path / "work"
    assert _run("InternVL3-1B", twins, data_dir, work) == 0
    assert _run("InternVL3-1B-hf", twins, data_dir, work) == 0
    run = json.loads((work / "InternVL3-1B-hf" / "run.json").read_text())
    assert run["model"]["repo_id"] == "OpenGVLab/InternVL3-1B-hf"
    for name in DATASETS:
        prompts = [
            [json.loads(line) for line in (work / m / f"{m}_{name}_prompts.jsonl").read_text().splitlines()]
            for m in ("InternVL3-1B", "InternVL3-1B-hf")
        ]
        assert prompts[0] == prompts[1] and all(row["tiles"] for row in prompts[0])
        frames = [pd.read_excel(work / m / f"{m}_{name}.xlsx") for m in ("InternVL3-1B", "InternVL3-1B-hf")]
        assert frames[0]["prediction"].astype(str).tolist() == frames[1]["prediction"].astype(str).tolist()
        assert frames[0]["prediction"].astype(str).str.len().sum() > 0  # the models did generate


def test_the_conversion_renames_and_splits_the_same_tensors(twins):
    """The -HF file holds the original's tensors under transformers' names (as the released -hf repos name
    them); the ViT's fused qkv rows are q, k, v in that order."""
    import torch

    from vleval.models.internvl.weights import iter_checkpoint, weight_files

    original_dir = twins / "InternVL3-1B"
    original = dict(iter_checkpoint(original_dir, weight_files(original_dir)))
    with safe_open(str(twins / "InternVL3-1B-hf" / "model.safetensors"), framework="pt") as f:
        hf = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open is no mapping)
    block = "vision_tower.encoder.layer.1.attention."
    qkv = torch.cat([hf[f"{block}{p}_proj.weight"] for p in "qkv"])
    assert torch.equal(qkv, original["vision_model.encoder.layers.1.attn.qkv.weight"])
    assert torch.equal(hf["multi_modal_projector.linear_2.weight"], original["mlp1.3.weight"])
    assert torch.equal(hf["language_model.lm_head.weight"], original["language_model.lm_head.weight"])
    assert torch.equal(
        hf["vision_tower.encoder.layer.0.lambda_1"], original["vision_model.encoder.layers.0.ls1"]
    )
    assert sum(t.numel() for t in hf.values()) == sum(t.numel() for t in original.values())


def test_verification_reads_the_hf_layout_as_its_original(twins):
    """Checked against a registered card, the -HF folder gives the same structure comparison as its twin
    (it is not flagged for its architecture name)."""
    card = get_model("InternVL2_5-1B")
    hf, original = (verify_checkpoint(twins / name, card) for name in ("InternVL3-1B-hf", "InternVL3-1B"))
    assert hf.checked == original.checked and "LLM class" in hf.checked
    assert hf.problems == original.problems and not any("architecture" in p for p in hf.problems)


def test_an_hf_checkpoint_on_an_llm_without_a_native_class_is_refused(twins, data_dir, tmp_path, capsys):
    models = tmp_path / "models"
    path = shutil.copytree(twins / "InternVL3-1B-hf", models / "InternVL3-1B-hf")
    config = json.loads((path / "config.json").read_text())
    config["text_config"]["model_type"] = "internlm3"
    (path / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert _run("InternVL3-1B-hf", models, data_dir, tmp_path / "work") == 2
    err = capsys.readouterr().err
    refusal = err.strip().splitlines()[-1]  # after the run's warnings, one line names the file and why
    assert "config.json" in refusal and "InternLM3" in refusal and "own code" in refusal
    assert "Traceback" not in err


def test_a_missing_tensor_is_named(twins, tmp_path):
    from safetensors.torch import load_file, save_file

    from vleval.models.internvl.loader import load_internvl

    path = shutil.copytree(twins / "InternVL3-1B-hf", tmp_path / "ckpt")
    tensors = load_file(str(path / "model.safetensors"))
    del tensors["multi_modal_projector.linear_1.bias"]
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(DataCorruptError, match="multi_modal_projector.linear_1.bias"):
        load_internvl(path, device="cpu")


def test_the_hf_layout_of_internlm2_does_not_exist(tmp_path):
    from vleval.synthetic.checkpoints import make_tiny_hf_checkpoint

    with pytest.raises(VlevalError, match="InternLM2"):
        make_tiny_hf_checkpoint(tmp_path / "x", "internlm2")


def test_the_vllm_backend_sends_an_hf_checkpoint_to_the_hf_backend(twins):
    """vleval's vLLM plugin registers the original layout only: the -HF folder is refused before vLLM
    is imported, with the way out."""
    from vleval.models.backends.vllm import VLLMBackend

    with pytest.raises(VlevalError, match="-HF checkpoint .*--backend hf"):
        VLLMBackend(twins / "InternVL3-1B-hf")


@pytest.mark.parametrize("family", ["qwen3", "qwen3_moe"])
def test_the_internvl3_5_hf_twins_compute_the_same_features_and_tokens(family, tmp_path):
    """Qwen3 dense and MoE -HF twins (transformers writes the MoE experts one tensor each, as the released
    30B-A3B-HF does): the same bf16 image features and greedy tokens as the original layout."""
    import torch

    from vleval.models.internvl.loader import load_internvl
    from vleval.synthetic.checkpoints import make_tiny_checkpoint, make_tiny_hf_checkpoint

    original = load_internvl(make_tiny_checkpoint(tmp_path / "o", family), device="cpu")
    hf = load_internvl(make_tiny_hf_checkpoint(tmp_path / "h", family), device="cpu")
    for model in (original, hf):
        model.set_attention("reference")
    pixels = torch.randn(2, 3, 448, 448, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    assert torch.equal(original.extract_feature(pixels), hf.extract_feature(pixels))
    image = hf.img_context_token_id
    ids = torch.tensor([[*range(100, 110), *[image] * (2 * hf.num_image_token), *range(200, 205)]])
    kwargs = {"max_new_tokens": 10, "min_new_tokens": 10, "eos_token_id": 0, "pad_token_id": 0}
    tokens = [m.generate(ids, torch.ones_like(ids), pixels, **kwargs).tolist() for m in (original, hf)]
    assert tokens[0] == tokens[1] and len(tokens[0][0]) == 10


def test_transformers_own_internvl3_1b_hf_config_parses():
    """transformers' ``InternVLConfig()`` defaults are OpenGVLab/InternVL3-1B-hf's (its docstring): read as
    the original layout, a Qwen2 LLM, 448-pixel tiles of 14-pixel patches, 256 tokens a tile."""
    from transformers import InternVLConfig

    from vleval.models.internvl.config import parse_config

    config = parse_config(InternVLConfig().to_dict(), source="InternVL3-1B-hf/config.json")
    assert (config.llm_family, config.hf_layout, config.image_size, config.num_image_token) == (
        "qwen2",
        True,
        448,
        256,
    )
    assert (config.vision.hidden_size, config.vision.num_hidden_layers, config.ps_version) == (1024, 24, "v2")


def test_weights_that_disagree_with_the_config_are_refused_in_one_line(twins, tmp_path):
    from vleval.models.internvl.loader import load_internvl

    path = shutil.copytree(twins / "InternVL3-1B-hf", tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    config["vision_config"]["intermediate_size"] //= 2
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataCorruptError, match="shapes disagree with config.json") as info:
        load_internvl(path, device="cpu")
    assert "\n" not in str(info.value)


def test_the_reference_vit_op_order_holds_when_the_scale_is_not_a_power_of_two():
    """Head size 8 (scale 1/sqrt(8), as the 6B tower's 128): bf16 image features of the -HF model equal the
    original layout's bit for bit, which transformers' eager order (scaling q @ k^T) does not promise."""
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    from vleval.models.internvl.config import parse_config
    from vleval.models.internvl.hf_native import HFNativeInternVL, hf_config, to_hf_state_dict
    from vleval.models.internvl.modeling import InternVLModel
    from vleval.synthetic.checkpoints import tiny_config

    raw = tiny_config("qwen2", 64, {"<|endoftext|>": 0, "<|im_end|>": 1})
    raw["vision_config"]["num_attention_heads"] = 4
    torch.manual_seed(0)
    original = InternVLModel(parse_config(raw))
    for param in original.parameters():
        torch.nn.init.normal_(param, std=0.5)
    hf_model = InternVLForConditionalGeneration(InternVLConfig(**hf_config(raw, image_token_id=2)))
    hf_model.load_state_dict(to_hf_state_dict(original.state_dict()), strict=True)
    hf = HFNativeInternVL(hf_model.to(torch.bfloat16), parse_config(raw))
    original.to(torch.bfloat16)
    for model in (original, hf):
        model.set_attention("reference")
    pixels = torch.randn(2, 3, 448, 448, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(original.extract_feature(pixels), hf.extract_feature(pixels))


def test_a_device_map_in_the_original_layouts_names_is_refused_for_the_hf_layout(twins):
    """An -HF checkpoint is split by its own module names (``hf_device_map``): a map in the original
    layout's names (``vision_model``) is refused in one line instead of leaving tensors unplaced."""
    from vleval.models.internvl.loader import load_internvl

    with pytest.raises(VlevalError, match="does not have: vision_model"):
        load_internvl(twins / "InternVL3-1B-hf", device="cpu", device_map={"vision_model": "cpu"})


# --------------------------------------------------------------------------------------------------
# issue 23: -HF checkpoints split over several GPUs as the original layout of the same model
# --------------------------------------------------------------------------------------------------
SPLIT_CARDS = sorted(c.name for c in MODELS.values() if c.hf_format and c.gpus_per_task > 1)


def _twin(card):
    """The original-layout card of an -HF card's weights (InternVL3-38B-hf -> InternVL3-38B)."""
    return get_model(card.name.removesuffix("-HF").removesuffix("-hf"))


def _meta_hf_model(card):
    """InternVLForConditionalGeneration with the card's LLM and number of layers (tiny widths), on meta."""
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    from vleval.models.internvl.hf_native import hf_config
    from vleval.synthetic.checkpoints import tiny_config

    raw = tiny_config(card.llm_family, 64, {"<|endoftext|>": 0, "<|im_end|>": 1})
    raw["llm_config"]["num_hidden_layers"] = card.llm_layers
    with torch.device("meta"):
        return InternVLForConditionalGeneration(InternVLConfig(**hf_config(raw, image_token_id=2)))


def test_every_card_that_needs_several_gpus_has_an_hf_twin_to_split():
    assert SPLIT_CARDS == [
        "InternVL3-38B-hf",
        "InternVL3-78B-hf",
        "InternVL3_5-241B-A28B-HF",
        "InternVL3_5-30B-A3B-HF",
        "InternVL3_5-38B-HF",
    ]


@pytest.mark.parametrize("name", SPLIT_CARDS)
def test_the_hf_split_puts_every_block_where_the_original_layout_puts_it(name):
    """The same layer-to-GPU assignment as the twin's reference split, name for name after renaming
    (``vision_model`` -> ``model.vision_tower``, ``language_model.model.layers.N`` ->
    ``model.language_model.layers.N``, ``language_model.lm_head`` -> ``lm_head`` ...); every key names a
    module of transformers' model with that many layers, and every parameter and buffer is placed once."""
    from vleval.models.internvl.hf_native import hf_module_name, place_modules
    from vleval.models.internvl.loader import split_device_map, split_device_map_for

    card = get_model(name)
    twin = _twin(card)
    assert (twin.llm_layers, twin.llm_family, twin.gpus_per_task) == (card.llm_layers, card.llm_family, 8)
    original = split_device_map(twin.llm_layers, 8, twin.llm_family)
    hf = split_device_map_for(card.llm_layers, 8, card.llm_family, hf_layout=True)
    assert hf == {hf_module_name(module): gpu for module, gpu in original.items()}
    last = card.llm_layers - 1
    assert {hf[k] for k in ("model.vision_tower", "model.multi_modal_projector", "lm_head")} == {0}
    assert hf["model.language_model.embed_tokens"] == hf[f"model.language_model.layers.{last}"] == 0
    assert sorted(set(hf.values())) == list(range(8))
    # placed on meta (no memory): place_modules checks names and coverage before it moves anything
    place_modules(_meta_hf_model(card), {module: "meta" for module in hf})


def test_a_split_that_misses_or_repeats_a_tensor_is_refused():
    from vleval.models.internvl.hf_native import place_modules
    from vleval.models.internvl.loader import split_device_map_for

    card = get_model("InternVL3-38B-hf")
    split = {k: "meta" for k in split_device_map_for(card.llm_layers, 8, card.llm_family, hf_layout=True)}
    without_head = {k: v for k, v in split.items() if k != "lm_head"}
    with pytest.raises(VlevalError, match="place lm_head.weight exactly once .*none"):
        place_modules(_meta_hf_model(card), without_head)
    with pytest.raises(
        VlevalError, match="embed_tokens.weight exactly once .*embed_tokens, model.language_model\\)"
    ):
        place_modules(_meta_hf_model(card), {**split, "model.language_model": "meta"})


def test_a_split_hf_checkpoint_predicts_what_the_unsplit_one_does(twins):
    """The tiny -HF checkpoint loaded with its two-GPU split's entries (each block a map entry of its own,
    forward hooks on each), all on the CPU: every parameter and buffer is placed by exactly one entry
    (``place_modules`` checks it), and greedy tokens equal the unsplit load's."""
    import torch

    from vleval.models.internvl.loader import load_internvl, split_device_map_for

    path = twins / "InternVL3-1B-hf"
    split = split_device_map_for(2, 2, "qwen2", hf_layout=True)  # the tiny LLM has 2 layers
    split_model = load_internvl(path, device="cpu", device_map={k: "cpu" for k in split})
    whole = load_internvl(path, device="cpu")
    # each placed block moves its inputs to its device when it runs (the original split's hooks)
    assert {name for name, m in split_model.hf.named_modules() if m._forward_pre_hooks} == set(split)
    assert not any(m._forward_pre_hooks for m in whole.hf.modules())
    for model in (split_model, whole):
        model.set_attention("reference")
    pixels = torch.randn(1, 3, 448, 448, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    image = whole.img_context_token_id
    ids = torch.tensor([[*range(100, 110), *[image] * whole.num_image_token, *range(200, 205)]])
    kwargs = {"max_new_tokens": 8, "min_new_tokens": 8, "eos_token_id": 0, "pad_token_id": 0}
    tokens = [m.generate(ids, torch.ones_like(ids), pixels, **kwargs).tolist() for m in (split_model, whole)]
    assert tokens[0] == tokens[1] and len(tokens[0][0]) == 8
