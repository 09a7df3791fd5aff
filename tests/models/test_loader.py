import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from safetensors.torch import load_file, save_file

from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.models.internvl.loader import load_internvl
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.synthetic.checkpoints import build_tiny_model, make_tiny_checkpoint

# InternVL2.5/3 and InternVL3.5 dense + MoE, and InternVL3.5-GPT-OSS
FAMILIES = ("qwen2", "internlm2", "qwen3", "qwen3_moe", "gpt_oss")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loader")
    return {family: make_tiny_checkpoint(root / family, family) for family in FAMILIES}


def _query(tok, n_tiles: int, question: str = "What is shown?") -> torch.Tensor:
    text = (
        "<|im_start|>user\n<img>" + "<IMG_CONTEXT>" * (256 * n_tiles) + f"</img>\n{question}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    return tok(text, return_tensors="pt").input_ids


@pytest.mark.parametrize("family", FAMILIES)
def test_loaded_model_equals_the_model_that_was_saved(family, checkpoints, tmp_path):
    loaded = load_internvl(checkpoints[family], dtype="float32")  # the saved model is in fp32
    reference, _, _ = build_tiny_model(family, work_dir=tmp_path)
    # every parameter filled with exactly the saved values (InternLM2: renamed and wqkv split)
    ours, theirs = loaded.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name
    assert next(loaded.parameters()).dtype == torch.float32
    tok = load_tokenizer(checkpoints[family])
    ids = _query(tok, 2)
    pixels = torch.randn(2, 3, 448, 448, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(ids, pixels), reference(ids, pixels))


def test_dtype_override(checkpoints):
    model = load_internvl(checkpoints["qwen2"], dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_cpu_default_dtype_is_bfloat16_as_the_reference(checkpoints):
    model = load_internvl(checkpoints["qwen2"], device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def _rewrite_first_shard(path: Path, edit, holding: str | None = None) -> None:
    """Apply ``edit`` to the tensors of the first shard (or of the shard holding ``holding``)."""
    index_path = path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    shard = index["weight_map"][holding] if holding else "model-00001-of-00002.safetensors"
    tensors = load_file(str(path / shard))
    edit(tensors)
    save_file(tensors, str(path / shard), metadata={"format": "pt"})
    index["weight_map"] = {n: f for n, f in index["weight_map"].items() if f != shard}
    index["weight_map"].update({n: shard for n in tensors})
    index_path.write_text(json.dumps(index))


@pytest.mark.parametrize("family", FAMILIES)
def test_missing_tensor_is_refused_by_name(family, checkpoints, tmp_path):
    path = shutil.copytree(checkpoints[family], tmp_path / "ckpt")
    victim = {}

    def drop(tensors):
        victim["name"] = name = sorted(n for n in tensors if n.startswith("language_model"))[0]
        del tensors[name]

    _rewrite_first_shard(path, drop)
    with pytest.raises(DataCorruptError, match=re.escape(f"missing tensors: {victim['name']}")):
        load_internvl(path)


def test_unexpected_tensor_is_refused_by_name(checkpoints, tmp_path):
    path = shutil.copytree(checkpoints["internlm2"], tmp_path / "ckpt")
    _rewrite_first_shard(path, lambda t: t.update({"vision_model.extra_norm.weight": torch.ones(4)}))
    with pytest.raises(DataCorruptError, match=r"unexpected tensors: vision_model\.extra_norm\.weight"):
        load_internvl(path)


def test_wrong_shape_is_refused(checkpoints, tmp_path):
    path = shutil.copytree(checkpoints["qwen2"], tmp_path / "ckpt")
    head = "language_model.lm_head.weight"
    _rewrite_first_shard(path, lambda t: t.update({head: t[head][:-1]}), holding=head)
    with pytest.raises(DataCorruptError, match="lm_head.weight has shape"):
        load_internvl(path)


def test_python_files_in_the_checkpoint_are_never_executed(checkpoints, tmp_path):
    path = shutil.copytree(checkpoints["internlm2"], tmp_path / "ckpt")
    marker = tmp_path / "executed"
    payload = f"open({str(marker)!r}, 'w').write('x')\nraise SystemExit('checkpoint code ran')\n"
    for name in ("configuration_internvl_chat.py", "modeling_internvl_chat.py", "tokenization_internlm2.py"):
        (path / name).write_text(payload)
    model = load_internvl(path)
    load_tokenizer(path)
    assert model.img_context_token_id is not None
    assert not marker.exists()
    assert not [m for m in sys.modules if "internvl_chat" in m or "tokenization_internlm2" in m]


def test_not_an_internvl_checkpoint(tmp_path, checkpoints):
    with pytest.raises(DataMissingError, match="no config.json"):
        load_internvl(tmp_path)
    path = shutil.copytree(checkpoints["qwen2"], tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": "internvl"}))
    with pytest.raises(DataCorruptError, match="model_type is 'internvl'"):
        load_internvl(path)
    (path / "config.json").write_text(json.dumps(config))
    (path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(DataMissingError, match="model-00002-of-00002.safetensors"):
        load_internvl(path)


def test_internlm2_tokenizer_encodes_like_the_slow_sentencepiece_tokenizer(checkpoints):
    """The remote InternLM2Tokenizer: BOS, then each text chunk between special tokens encoded by
    sentencepiece on its own (with its dummy prefix), special tokens as single ids."""
    path = checkpoints["internlm2"]
    tok = load_tokenizer(path)
    sp = spm.SentencePieceProcessor(model_file=str(path / "tokenizer.model"))
    text = (
        "<|im_start|>system\n你是书生·万象<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT></img>\n"
        "Question: Which color? A. red B. blue 42<|im_end|>\n<|im_start|>assistant\n"
    )
    specials = ["<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>"]
    expected = [sp.bos_id()]
    for chunk in re.split("(" + "|".join(map(re.escape, specials)) + ")", text):
        if chunk in specials:
            expected.append(tok.convert_tokens_to_ids(chunk))
        elif chunk:
            expected.extend(sp.encode(chunk))
    assert tok(text).input_ids == expected


def test_internlm2_decoding_matches_sentencepiece(checkpoints):
    """The slow InternLM2Tokenizer decodes plain text with sp_model.decode (its prefix-space
    add/drop cancels out); the backend then strips the answer."""
    path = checkpoints["internlm2"]
    tok = load_tokenizer(path)
    sp = spm.SentencePieceProcessor(model_file=str(path / "tokenizer.model"))
    for text in ("A", "B. cat", "The answer is 42.\nFinal answer: C", "你是书生 image of a dog"):
        ids = sp.encode(text)
        assert tok.decode(ids, skip_special_tokens=True).strip() == sp.decode(ids).strip() == text
    # ...and always runs transformers' clean_up_tokenization on it (convert_tokens_to_string)
    ids = sp.encode("Yes , it is . It 's B ! Is it ?")
    assert tok.decode(ids, skip_special_tokens=True) == "Yes, it is. It's B! Is it?"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.decode([*sp.encode("B ."), im_end], skip_special_tokens=True) == "B."


def test_internlm2_decoding_keeps_added_tokens_and_cut_characters_as_the_reference(checkpoints):
    """transformers 4.x's slow _decode (the reference's) keeps added tokens that are not special tokens
    (<|plugin|>, <|action_start|>, ...) under skip_special_tokens, set off by single spaces; byte pieces
    that do not form a character (an answer cut by max_new_tokens) decode as sentencepiece decodes them.
    Expected strings recorded from the reference tokenizer code under transformers 4.46.3."""
    path = checkpoints["internlm2"]
    tok = load_tokenizer(path)
    sp = spm.SentencePieceProcessor(model_file=str(path / "tokenizer.model"))
    plugin, interpreter = tok.convert_tokens_to_ids(["<|plugin|>", "<|interpreter|>"])
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    a, b = sp.encode("A")[-1], sp.encode("B")[-1]
    assert tok.decode([a, plugin, b], skip_special_tokens=True) == "A <|plugin|> B"
    assert (
        tok.decode([a, plugin, interpreter, im_end], skip_special_tokens=True)
        == "A <|plugin|> <|interpreter|>"
    )
    assert tok.decode([plugin], skip_special_tokens=True) == "<|plugin|>"
    cut = [sp.piece_to_id("<0x9F>"), sp.piece_to_id("<0x78>"), sp.piece_to_id("<0x00>")]
    assert tok.decode(cut, skip_special_tokens=True) == sp.decode(cut) == "\ufffdx\x00"


@pytest.mark.parametrize("family", FAMILIES)
def test_configs_written_by_old_transformers_load(family, checkpoints, tmp_path):
    """Real InternVL2.5 configs carry every PretrainedConfig default of transformers 4.37 in the nested
    configs (generation defaults, label maps, attn_implementation, ...); they must not get in the way."""
    path = shutil.copytree(checkpoints[family], tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    legacy = {
        "_name_or_path": "/mnt/petrelfs/llm",
        "transformers_version": "4.37.2",
        "attn_implementation": "flash_attention_2",
        "use_bfloat16": True,
        "max_length": 20,
        "do_sample": False,
        "temperature": 1.0,
        "top_k": 50,
        "top_p": 1.0,
        "repetition_penalty": 1.0,
        "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
        "label2id": {"LABEL_0": 0, "LABEL_1": 1},
        "return_dict": True,
        "torchscript": False,
    }
    config["llm_config"].update(legacy)
    config["vision_config"].update(legacy)
    config["use_flash_attn"] = True
    (path / "config.json").write_text(json.dumps(config))
    model = load_internvl(path)
    expected = {
        "qwen2": "sdpa",
        "internlm2": "eager",
        "qwen3": "sdpa",
        "qwen3_moe": "sdpa",
        "gpt_oss": "eager",
    }[family]
    assert model.language_model.config._attn_implementation == expected


def test_qwen2_tokenizer_from_vocab_and_merges_alone(checkpoints, tmp_path):
    """Repos that ship only vocab.json + merges.txt (the slow tokenizer's files) tokenize the same."""
    full = checkpoints["qwen2"]
    slow = shutil.copytree(full, tmp_path / "ckpt")
    (slow / "tokenizer.json").unlink()
    text = "<|im_start|>user\n<img><IMG_CONTEXT></img>\nWhat's  in\tthe image? 123 4567\n\n<|im_end|>\n"
    assert load_tokenizer(slow)(text).input_ids == load_tokenizer(full)(text).input_ids


def test_qwen3_moe_experts_fuse_as_transformers_fuses_them(checkpoints, tmp_path):
    """The per-expert tensors of a Qwen3-MoE checkpoint, loaded by transformers' own from_pretrained (its
    conversion of Qwen3's published layout) and by ours, give the same fused expert weights."""
    from transformers import Qwen3MoeForCausalLM

    path = checkpoints["qwen3_moe"]
    ours = load_internvl(path, dtype="float32").language_model.state_dict()
    config = json.loads((path / "config.json").read_text())["llm_config"]
    lm = tmp_path / "lm"
    lm.mkdir()
    tensors = {}
    index = json.loads((path / "model.safetensors.index.json").read_text())["weight_map"]
    for shard in set(index.values()):
        for name, tensor in load_file(str(path / shard)).items():
            if name.startswith("language_model."):
                tensors[name.removeprefix("language_model.")] = tensor
    assert "model.layers.0.mlp.experts.3.gate_proj.weight" in tensors  # Qwen3-MoE's published layout
    save_file(tensors, str(lm / "model.safetensors"), metadata={"format": "pt"})
    (lm / "config.json").write_text(json.dumps(config))
    theirs = Qwen3MoeForCausalLM.from_pretrained(str(lm), dtype=torch.float32).state_dict()
    assert ours.keys() == theirs.keys()
    for name in ("model.layers.0.mlp.experts.gate_up_proj", "model.layers.1.mlp.experts.down_proj"):
        assert torch.equal(ours[name], theirs[name]), name


@pytest.mark.parametrize(
    ("arch", "words"),
    [("InternLM3ForCausalLM", "no native InternLM3")],  # GPT-OSS loads (issue 23)
)
def test_llms_without_a_native_class_are_refused_not_run(arch, words, checkpoints, tmp_path):
    path = shutil.copytree(checkpoints["qwen2"], tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    config["llm_config"]["architectures"] = [arch]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(VlevalError, match=words) as info:
        load_internvl(path)
    assert "cannot be evaluated yet" in str(info.value) and "\n" not in str(info.value)


def test_an_hf_layout_config_without_its_sub_configs_is_refused(checkpoints, tmp_path):
    """model_type 'internvl' is the -HF layout (internvl/hf_native.py): it needs text_config and
    vision_config, not the original layout's llm_config."""
    path = shutil.copytree(checkpoints["qwen2"], tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": "internvl"}))
    with pytest.raises(DataCorruptError, match="needs text_config and vision_config"):
        load_internvl(path)


def test_a_quantized_gpt_oss_llm_is_refused_in_one_line(checkpoints, tmp_path):
    """openai/gpt-oss-20b ships MXFP4 experts (``quantization_config``); vleval reads unquantized GPT-OSS
    weights only and says so before building anything."""
    path = shutil.copytree(checkpoints["gpt_oss"], tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    config["llm_config"]["quantization_config"] = {"quant_method": "mxfp4"}
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(VlevalError, match="quantization_config") as info:
        load_internvl(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("family", FAMILIES)
def test_encode_query_gives_the_tokenizers_own_ids(family, checkpoints):
    """The fast path for image context runs must give the very ids a full tokenization gives, for
    one and several images, text touching the blocks, and a literal context token in the user's text."""
    from vleval.models.internvl.template import render_query
    from vleval.models.internvl.tokenizer import _encode_collapsed, encode_query

    tok = load_tokenizer(checkpoints[family])
    queries = [
        render_query("<image>\nWhich colour? A. red B. blue", [7]),
        render_query("Compare <image>and<image> closely", [2, 1]),
        render_query(" leading space, no placeholder ", [1]),
        render_query("a literal <IMG_CONTEXT><IMG_CONTEXT> in the text <image>", [3]),
        render_query("no image at all", []),
    ]
    for query in queries * 2:  # the second pass is after the tokenizer's one-time check
        assert encode_query(tok, query) == tok(query).input_ids
    for query in queries[:4]:
        assert _encode_collapsed(tok, query) == tok(query).input_ids
