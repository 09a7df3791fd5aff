import hashlib
import json
from pathlib import Path

import pytest
import sentencepiece as spm
from safetensors import safe_open

from vleval.errors import VlevalError
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.synthetic.checkpoints import make_tiny_checkpoint

FAMILIES = ("qwen2", "internlm2")


def _digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


@pytest.fixture(scope="module", params=FAMILIES)
def checkpoint(request, tmp_path_factory) -> tuple[str, Path]:
    family = request.param
    return family, make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / family, family)


def test_original_layout_without_python_files(checkpoint):
    family, path = checkpoint
    names = {p.name for p in path.iterdir()}
    assert not [n for n in names if n.endswith(".py")]
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors.index.json",
        "tokenizer_config.json",
    } <= names
    assert {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} <= names
    tokenizer_files = (
        {"vocab.json", "merges.txt", "tokenizer.json"} if family == "qwen2" else {"tokenizer.model"}
    )
    assert tokenizer_files <= names

    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "internvl_chat"
    assert (
        config["ps_version"] == "v2"
        and config["downsample_ratio"] == 0.5
        and config["force_image_size"] == 448
    )
    assert config["vision_config"]["image_size"] == 448 and config["vision_config"]["patch_size"] == 14
    llm = config["llm_config"]
    assert llm["architectures"] == ["Qwen2ForCausalLM" if family == "qwen2" else "InternLM2ForCausalLM"]
    assert llm["hidden_size"] // llm["num_attention_heads"] >= 32  # vLLM's CPU attention needs it


def test_index_names_every_tensor_with_checkpoint_names(checkpoint):
    family, path = checkpoint
    weight_map = json.loads((path / "model.safetensors.index.json").read_text())["weight_map"]
    stored = set()
    for shard in set(weight_map.values()):
        with safe_open(str(path / shard), framework="pt") as f:
            stored |= set(f.keys())
    assert stored == set(weight_map)
    assert any(n.startswith("vision_model.encoder.layers.0.attn.qkv") for n in stored)
    assert "mlp1.3.weight" in stored
    if family == "internlm2":
        assert "language_model.model.tok_embeddings.weight" in stored
        assert "language_model.model.layers.0.attention.wqkv.weight" in stored
        assert "language_model.output.weight" in stored
        assert not any("q_proj" in n for n in stored)
    else:
        assert "language_model.model.layers.0.self_attn.q_proj.bias" in stored
        assert "language_model.lm_head.weight" in stored


def test_same_seed_gives_byte_identical_files_and_reuses_the_directory(tmp_path):
    for family in FAMILIES:
        a = make_tiny_checkpoint(tmp_path / f"a-{family}", family, seed=3)
        b = make_tiny_checkpoint(tmp_path / f"b-{family}", family, seed=3)
        assert _digests(a) == _digests(b)
        mtime = (a / "config.json").stat().st_mtime_ns
        assert make_tiny_checkpoint(a, family, seed=3) == a
        assert (a / "config.json").stat().st_mtime_ns == mtime  # cached, not rebuilt
    other = make_tiny_checkpoint(tmp_path / "c", "qwen2", seed=4)
    shard = "model-00001-of-00002.safetensors"
    assert _digests(other)[shard] != _digests(tmp_path / "a-qwen2")[shard]


def test_an_unrelated_directory_is_never_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(VlevalError, match="not a vleval synthetic checkpoint"):
        make_tiny_checkpoint(tmp_path, "qwen2")
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_mpo_variant_and_single_file(tmp_path):
    base = make_tiny_checkpoint(tmp_path / "base", "qwen2")
    mpo = make_tiny_checkpoint(tmp_path / "mpo", "qwen2", mpo=True, shards=1)
    assert (mpo / "model.safetensors").is_file() and not (mpo / "model.safetensors.index.json").exists()
    assert json.loads((mpo / "config.json").read_text())["_name_or_path"].endswith("-MPO")
    assert _digests(base)["tokenizer.json"] == _digests(mpo)["tokenizer.json"]


def test_tokenizers_carry_internvl_tokens_and_the_family_bos_rule(checkpoint):
    family, path = checkpoint
    tok = load_tokenizer(path)
    text = "<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is it?<|im_end|>\n"
    ids = tok(text).input_ids
    context = tok.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert ids.count(context) == 2
    for special in ("<img>", "</img>", "<|im_start|>", "<|im_end|>"):
        assert tok.convert_tokens_to_ids(special) in ids
    if family == "internlm2":
        assert ids[0] == tok.convert_tokens_to_ids("<s>")  # add_bos_token (protocol §4.7)
        sp = spm.SentencePieceProcessor(model_file=str(path / "tokenizer.model"))
        assert sp.piece_to_id("<|im_end|>") == tok.convert_tokens_to_ids("<|im_end|>")
    else:
        assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")  # no BOS for Qwen2
        assert tok.decode(ids) == text


@pytest.mark.parametrize("family", ["qwen3", "qwen3_moe"])
def test_internvl3_5_layouts(family, tmp_path):
    """InternVL3.5's Qwen3 dense and Qwen3-MoE LLMs, as their checkpoints store them: q/k norms, no q/k/v
    bias, and (MoE) a router plus one tensor per expert and projection."""
    path = make_tiny_checkpoint(tmp_path / family, family)
    config = json.loads((path / "config.json").read_text())
    llm = config["llm_config"]
    assert llm["architectures"] == ["Qwen3MoeForCausalLM" if family == "qwen3_moe" else "Qwen3ForCausalLM"]
    assert config["_name_or_path"].startswith("tiny/InternVL3_5-")
    stored = set(json.loads((path / "model.safetensors.index.json").read_text())["weight_map"])
    layer = "language_model.model.layers.1."
    assert {layer + "self_attn.q_norm.weight", layer + "self_attn.k_norm.weight"} <= stored
    assert not any(n.endswith("q_proj.bias") for n in stored)
    if family == "qwen3_moe":
        experts = {
            f"{layer}mlp.experts.{e}.{p}.weight"
            for e in range(llm["num_experts"])
            for p in ("gate_proj", "up_proj", "down_proj")
        }
        assert experts | {layer + "mlp.gate.weight"} <= stored
        assert not any("gate_up_proj" in n for n in stored)  # transformers' fused name never reaches the file
    else:
        assert layer + "mlp.gate_proj.weight" in stored
    # head_dim wider than hidden / heads, as in most Qwen3 sizes: q_proj is [heads * head_dim, hidden]
    assert llm["head_dim"] * llm["num_attention_heads"] != llm["hidden_size"]
    q_proj = layer + "self_attn.q_proj.weight"
    shard = json.loads((path / "model.safetensors.index.json").read_text())["weight_map"][q_proj]
    with safe_open(str(path / shard), framework="pt") as f:
        assert tuple(f.get_slice(q_proj).get_shape()) == (
            llm["num_attention_heads"] * llm["head_dim"],
            llm["hidden_size"],
        )
    tok = load_tokenizer(path)
    assert tok.convert_tokens_to_ids("<IMG_CONTEXT>") != tok.unk_token_id


def test_internvl3_5_gpt_oss_layout(tmp_path):
    """InternVL3.5-GPT-OSS as its checkpoint stores it (transformers' GptOssForCausalLM names, bf16, no
    MXFP4): attention sinks and biases, a router, fused experts input dimension first with their biases;
    the config names the harmony template; the tokenizer is one tokenizer.json with harmony's tokens."""
    path = make_tiny_checkpoint(tmp_path / "gpt_oss", "gpt_oss")
    config = json.loads((path / "config.json").read_text())
    llm = config["llm_config"]
    assert llm["architectures"] == ["GptOssForCausalLM"] and "quantization_config" not in llm
    assert config["template"] == "internvl3_5_gpt_oss"
    assert config["_name_or_path"] == "tiny/InternVL3_5-GPT-OSS-20B-A4B-Preview"
    weight_map = json.loads((path / "model.safetensors.index.json").read_text())["weight_map"]
    layer = "language_model.model.layers.1."
    names = ("self_attn.sinks", "self_attn.q_proj.bias", "mlp.router.weight", "mlp.router.bias")
    fused = ("gate_up_proj", "gate_up_proj_bias", "down_proj", "down_proj_bias")
    assert {layer + n for n in names} | {f"{layer}mlp.experts.{f}" for f in fused} <= set(weight_map)
    name = layer + "mlp.experts.gate_up_proj"
    with safe_open(str(path / weight_map[name]), framework="pt") as f:
        shape = tuple(f.get_slice(name).get_shape())
    assert shape == (llm["num_local_experts"], llm["hidden_size"], 2 * llm["intermediate_size"])
    assert not (path / "vocab.json").exists() and not list(path.glob("*.py"))
    tok = load_tokenizer(path)
    assert (
        json.loads((path / "tokenizer_config.json").read_text())["tokenizer_class"]
        == "PreTrainedTokenizerFast"
    )
    text = "<|start|>user<|message|><img><IMG_CONTEXT></img>\nWhat is it?<|end|><|start|>assistant"
    ids = tok(text).input_ids
    assert ids[0] == tok.convert_tokens_to_ids("<|start|>")  # no BOS
    assert tok.decode(ids) == text
    for special in ("<|message|>", "<|end|>", "<IMG_CONTEXT>"):
        assert tok.convert_tokens_to_ids(special) in ids
    assert llm["eos_token_id"] == tok.convert_tokens_to_ids("<|return|>")
