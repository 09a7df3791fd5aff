"""vleval's vLLM plugin, checked without vLLM: after ``register()``, transformers' Auto classes read
an original-layout checkpoint with vleval's classes (no checkpoint code, even where the config asks
for it), and the tokenizer vLLM will build tokenizes exactly like the hf backend's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer

from vleval.models.backends.base import load_backend
from vleval.models.internvl.template import render_query
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.vllm_plugin import register
from vleval.vllm_plugin.configs import InternLM2Config, InternVisionConfig, InternVLChatConfig


@pytest.fixture(scope="module", autouse=True)
def registered():
    register()
    register()  # vLLM calls it in several processes, possibly twice in one


@pytest.mark.parametrize(
    ("family", "llm_class"), [("qwen2", "Qwen2Config"), ("internlm2", "InternLM2Config")]
)
def test_autoconfig_reads_the_original_layout_without_remote_code(tiny_checkpoints, family, llm_class):
    raw = json.loads((tiny_checkpoints[family] / "config.json").read_text())
    config = AutoConfig.from_pretrained(tiny_checkpoints[family], trust_remote_code=False)
    assert isinstance(config, InternVLChatConfig)
    assert isinstance(config.vision_config, InternVisionConfig)
    assert type(config.llm_config).__name__ == llm_class
    # What vLLM's InternVL model and processor read (vllm/model_executor/models/internvl.py, intern_vit.py).
    for key in (
        "downsample_ratio",
        "ps_version",
        "select_layer",
        "force_image_size",
        "max_dynamic_patch",
        "use_thumbnail",
    ):
        assert getattr(config, key) == raw[key], key
    for key in (
        "hidden_size",
        "num_attention_heads",
        "num_hidden_layers",
        "norm_type",
        "qk_normalization",
        "qkv_bias",
    ):
        assert getattr(config.vision_config, key) == raw["vision_config"][key], key
    for key in ("hidden_size", "num_key_value_heads", "vocab_size", "rms_norm_eps"):
        assert getattr(config.llm_config, key) == raw["llm_config"][key], key
    assert config.llm_config.rope_parameters["rope_theta"] == raw["llm_config"]["rope_theta"]
    assert config.tie_word_embeddings is False and config.llm_config.tie_word_embeddings is False
    # Round trip (vLLM re-reads the config in its worker processes).
    again = InternVLChatConfig.from_dict(config.to_dict())
    assert type(again.llm_config) is type(config.llm_config)
    assert again.llm_config.hidden_size == config.llm_config.hidden_size


def test_internlm2_rope_scaling_is_kept_for_vllm(tiny_checkpoints):
    raw = json.loads((tiny_checkpoints["internlm2"] / "config.json").read_text())["llm_config"]
    config = AutoConfig.from_pretrained(tiny_checkpoints["internlm2"]).llm_config
    assert isinstance(config, InternLM2Config)
    assert config.bias == raw["bias"]
    if raw.get("rope_scaling"):
        assert config.rope_parameters["rope_type"] == raw["rope_scaling"]["type"]
        assert config.rope_parameters["factor"] == raw["rope_scaling"]["factor"]


def test_registered_classes_win_over_a_planted_checkpoint_module(tiny_checkpoints, tmp_path):
    """Even with trust_remote_code=True, the config.json's auto_map module is never imported."""
    planted = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoints["qwen2"], planted)
    marker = tmp_path / "imported"
    (planted / "configuration_internvl_chat.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    config = AutoConfig.from_pretrained(planted, trust_remote_code=True)
    assert isinstance(config, InternVLChatConfig)
    assert not marker.exists()


@pytest.mark.parametrize("family", ["qwen2", "internlm2"])
def test_autotokenizer_tokenizes_like_the_hf_backend(tiny_checkpoints, family):
    ours = load_tokenizer(tiny_checkpoints[family])
    auto = AutoTokenizer.from_pretrained(tiny_checkpoints[family], trust_remote_code=False)
    texts = [
        render_query("<image>\nWhat is shown?\nA. cat\nB. dog\nAnswer with the option's letter.", [7]),
        render_query("Image-1: <image>\nImage-2: <image>\nCompare  them.", [3, 1]),
        render_query("没有图片。 Two  spaces and\ttabs.", []),
        "It 's a cat , is n't it ? Yes .",  # InternLM2 decoding cleans these up, as the reference's
        "<image>",
    ]
    for text in texts:
        ids = ours(text).input_ids
        assert auto(text).input_ids == ids, (
            "the hf backend's tokenizer and the one vLLM builds disagree. Under transformers < 5.20 "
            "(vLLM's pin), a LlamaTokenizer subclass without an __init__ of its own is built as a plain "
            "sentencepiece tokenizer without the legacy per-chunk dummy prefix "
            "(transformers/tokenization_utils_tokenizers.py::_convert_from_sentencepiece)"
        )
        assert auto.decode(ids, skip_special_tokens=True) == ours.decode(ids, skip_special_tokens=True)
    if family == "internlm2":
        assert auto(texts[0]).input_ids[0] == auto.bos_token_id  # the reference's BOS rule


def test_vllm_backend_without_vllm_names_the_extra(tmp_path, tiny_checkpoints):
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    from vleval.errors import VlevalError

    with pytest.raises(VlevalError, match=r"pip install 'vleval\[vllm\]'"):
        load_backend("vllm", tiny_checkpoints["qwen2"])
    with pytest.raises(VlevalError, match="config.json missing"):
        load_backend("vllm", Path(tmp_path))
