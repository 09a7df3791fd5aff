"""Tiny random-weight InternVL checkpoints in the ORIGINAL layout (as downloaded from OpenGVLab): InternVL2.5's
two LLM layouts (Qwen2, which InternVL3 shares, and InternLM2) and InternVL3.5's Qwen3 dense, Qwen3-MoE and
GPT-OSS (its harmony chat template and o200k-style tokenizer).

A directory holds ``config.json`` (model_type ``internvl_chat`` with ``vision_config``/``llm_config``),
sharded safetensors with the checkpoint's own tensor names + ``model.safetensors.index.json``,
the family's tokenizer files, ``generation_config.json`` and no ``.py`` file. Dimensions are tiny
but the image geometry is real (448 px tiles, patch 14, 256 tokens per tile), LLM head size 32
(the smallest vLLM's CPU attention accepts). Same arguments -> byte-identical files; a directory
already built with the same arguments is reused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from vleval.errors import VlevalError
from vleval.models.verify import SYNTHETIC_MARKER as _MARKER
from vleval.synthetic.tokenizer import (
    write_gpt_oss_tokenizer,
    write_internlm2_tokenizer,
    write_qwen2_tokenizer,
)

Family = Literal["qwen2", "internlm2", "qwen3", "qwen3_moe", "gpt_oss"]
FAMILIES: tuple[Family, ...] = ("qwen2", "internlm2", "qwen3", "qwen3_moe", "gpt_oss")
_FORMAT_VERSION = 2  # bump when the files change, so cached directories are rebuilt

VIT_HIDDEN = 32
LLM_HIDDEN = 128
LLM_HEADS = 4  # head_dim 32
LLM_KV_HEADS = 2  # two KV groups of two query heads: exercises InternLM2's group-major wqkv
# (embedding offset on hidden dim 0, stop token's weight on it; the stop token is <|im_end|>, GPT-OSS's
# <|return|>): tuned so greedy answers stop after roughly 2-15 tokens for most prompts.
STOP_BIAS = {
    "qwen2": (2.5, 5.0),
    "internlm2": (2.0, 4.0),
    "qwen3": (2.5, 5.0),
    "qwen3_moe": (1.5, 3.5),
    "gpt_oss": (2.0, 4.0),
}
MOE_EXPERTS = 4  # two routed per token: exercises routing and the per-expert tensor layout
# LLM query/key weights are scaled up so attention is peaked: a flat average over ~2000 image tokens
# would make every answer the same.
ATTENTION_SHARPNESS = 2.0


def _vision_config(family: Family) -> dict[str, Any]:
    # Qwen2 tiny mimics InternViT-300M (layer_norm, qkv bias); InternLM2 tiny the 6B tower (rms_norm,
    # qk normalization), so both tower variants are exercised.
    big_tower_style = family == "internlm2"
    return {
        "architectures": ["InternVisionModel"],
        "model_type": "intern_vit_6b",
        "attention_dropout": 0.0,
        "drop_path_rate": 0.0,
        "dropout": 0.0,
        "hidden_act": "gelu",
        "hidden_size": VIT_HIDDEN,
        "image_size": 448,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 4 * VIT_HIDDEN,
        "layer_norm_eps": 1e-6,
        "norm_type": "rms_norm" if big_tower_style else "layer_norm",
        "num_attention_heads": 2,
        "num_channels": 3,
        "num_hidden_layers": 2,
        "patch_size": 14,
        "qk_normalization": big_tower_style,
        "qkv_bias": not big_tower_style,
        "use_flash_attn": False,
    }


def _llm_config(family: Family, vocab_size: int, ids: dict[str, int]) -> dict[str, Any]:
    common = {
        "hidden_act": "silu",
        "hidden_size": LLM_HIDDEN,
        "intermediate_size": 2 * LLM_HIDDEN,
        "max_position_embeddings": 32768,
        "num_attention_heads": LLM_HEADS,
        "num_hidden_layers": 2,
        "num_key_value_heads": LLM_KV_HEADS,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if family in ("qwen3", "qwen3_moe"):  # field set of Qwen3-8B / Qwen3-30B-A3B's config.json
        qwen3 = {
            "architectures": ["Qwen3MoeForCausalLM" if family == "qwen3_moe" else "Qwen3ForCausalLM"],
            "model_type": family,
            **common,
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            # wider than hidden / heads, as in most Qwen3 sizes (0.6B: 1024 / 16 heads, head_dim 128)
            "head_dim": 2 * LLM_HIDDEN // LLM_HEADS,
            "max_window_layers": 2,
            "rms_norm_eps": 1e-6,
            "rope_scaling": None,
            "sliding_window": None,
            "use_sliding_window": False,
        }
        if family == "qwen3_moe":
            qwen3.update(
                decoder_sparse_step=1,
                mlp_only_layers=[],
                moe_intermediate_size=LLM_HIDDEN // 2,
                norm_topk_prob=True,
                num_experts=MOE_EXPERTS,
                num_experts_per_tok=2,
                output_router_logits=False,
                router_aux_loss_coef=0.001,
            )
        return qwen3
    if family == "gpt_oss":  # field set of openai/gpt-oss-20b's config.json, bf16 (no quantization_config)
        return {
            "architectures": ["GptOssForCausalLM"],
            "model_type": "gpt_oss",
            **common,
            "intermediate_size": LLM_HIDDEN // 2,  # per expert
            "max_position_embeddings": 131072,  # 4096 x the YaRN factor 32, as gpt-oss-20b
            "attention_bias": True,
            "attention_dropout": 0.0,
            "eos_token_id": ids["<|return|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "experts_per_token": 2,
            "head_dim": LLM_HIDDEN // LLM_HEADS,
            "initial_context_length": 4096,
            "initializer_range": 0.02,
            # sliding and full attention alternate, as in gpt-oss-20b (window 128 there); a window shorter
            # than one image's 256 tokens, so the sliding layers matter
            "layer_types": ["sliding_attention", "full_attention"],
            "num_experts_per_tok": 2,
            "num_local_experts": MOE_EXPERTS,
            "output_router_logits": False,
            "rms_norm_eps": 1e-5,
            "rope_scaling": {
                "beta_fast": 32.0,
                "beta_slow": 1.0,
                "factor": 32.0,
                "original_max_position_embeddings": 4096,
                "rope_type": "yarn",
                "truncate": False,
            },
            "rope_theta": 150000,
            "router_aux_loss_coef": 0.9,
            "sliding_window": 64,
            "swiglu_limit": 7.0,
        }
    if family == "qwen2":
        return {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            **common,
            "attention_dropout": 0.0,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "max_window_layers": 2,
            "rms_norm_eps": 1e-6,
            "rope_scaling": None,
            "sliding_window": 32768,
            "use_sliding_window": False,
        }
    return {
        "architectures": ["InternLM2ForCausalLM"],
        "model_type": "internlm2",
        "auto_map": {
            "AutoConfig": "configuration_internlm2.InternLM2Config",
            "AutoModel": "modeling_internlm2.InternLM2ForCausalLM",
            "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM",
        },
        **common,
        "attn_implementation": "eager",
        "bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 2,
        "rms_norm_eps": 1e-5,
        "rope_scaling": {"factor": 2.0, "type": "dynamic"},
    }


def tiny_config(family: Family, vocab_size: int, ids: dict[str, int], *, mpo: bool = False) -> dict[str, Any]:
    """The ``config.json`` of a tiny checkpoint (field set of the real InternVL2.5 configs)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    name = {
        "qwen2": "InternVL2_5-1B",
        "internlm2": "InternVL2_5-2B",
        "qwen3": "InternVL3_5-1B",
        "qwen3_moe": "InternVL3_5-30B-A3B",
        "gpt_oss": "InternVL3_5-GPT-OSS-20B-A4B-Preview",
    }[family]
    return {
        "_name_or_path": f"tiny/{name}{'-MPO' if mpo else ''}",
        "architectures": ["InternVLChatModel"],
        "auto_map": {
            "AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
            "AutoModel": "modeling_internvl_chat.InternVLChatModel",
            "AutoModelForCausalLM": "modeling_internvl_chat.InternVLChatModel",
        },
        "downsample_ratio": 0.5,
        "dynamic_image_size": True,
        "force_image_size": 448,
        "llm_config": _llm_config(family, vocab_size, ids),
        "max_dynamic_patch": 12,
        "min_dynamic_patch": 1,
        "model_type": "internvl_chat",
        "ps_version": "v2",
        "select_layer": -1,
        "template": "internvl3_5_gpt_oss" if family == "gpt_oss" else "internvl2_5",
        "torch_dtype": "bfloat16",
        "use_backbone_lora": 0,
        "use_llm_lora": 0,
        "use_thumbnail": True,
        "vision_config": _vision_config(family),
    }


def stop_token(family: Family) -> str:
    """The token the family's chat template stops on (its tiny checkpoint is tuned to emit it)."""
    from vleval.models.internvl.template import GPT_OSS, INTERNVL2_5

    return (GPT_OSS if family == "gpt_oss" else INTERNVL2_5).stop_token


def _write_tokenizer(family: Family, out_dir: Path) -> tuple[int, dict[str, int], list[int]]:
    """(number of tokens, ids of the special tokens, ids that should rarely be generated)."""
    # Qwen3 shares Qwen2.5's byte-level BPE and chat tokens: the same tiny tokenizer serves both.
    writer = {"internlm2": write_internlm2_tokenizer, "gpt_oss": write_gpt_oss_tokenizer}.get(
        family, write_qwen2_tokenizer
    )
    n_tokens = writer(out_dir)
    from vleval.models.internvl.tokenizer import load_tokenizer

    tok = load_tokenizer(out_dir)
    names = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|return|>", "<IMG_CONTEXT>", "</s>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in names if t in tok.get_vocab()}
    special = set(tok.all_special_ids) - {ids[stop_token(family)]}
    quiet = []
    for i in range(n_tokens):
        text = tok.decode([i])
        if i in special or not text.strip() or not text.isprintable() or "\ufffd" in text:
            quiet.append(i)
    return n_tokens, ids, quiet


def _randomize(
    model: torch.nn.Module, seed: int, stop_id: int, quiet_ids: list[int], stop_bias: tuple[float, float]
) -> None:
    """Fill every parameter from one seeded generator, scaled so activations stay O(1) and greedy
    outputs vary with the input; the stop token's output row is boosted so generation stops, and
    the rows of ``quiet_ids`` (raw bytes, control characters, other special tokens, padding rows)
    are damped so outputs are mostly readable text that survives an xlsx round trip."""
    gen = torch.Generator().manual_seed(seed)
    experts_input_first = model.config.llm_family == "gpt_oss"  # GptOssExperts: [E, in, out]
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("ls1", "ls2"):
                value = 0.5 + 0.1 * noise
            elif "norm" in name and leaf == "weight" or name.startswith("mlp1.0.weight"):
                value = 1.0 + 0.1 * noise
            elif leaf == "bias" or leaf.endswith("_bias"):  # GPT-OSS's fused expert biases too
                value = 0.02 * noise
            elif "embed" in name:
                value = 0.5 * noise
            elif param.dim() >= 2:
                # fused MoE experts: Qwen3-MoE's [E, out, in], GPT-OSS's [E, in, out] (x @ W)
                if ".experts." in name:
                    fan_in = param.shape[1] if experts_input_first else param.shape[-1]
                else:
                    fan_in = param[0].numel()
                value = noise / fan_in**0.5
                if name.startswith("language_model.") and name.endswith(("q_proj.weight", "k_proj.weight")):
                    value = value * ATTENTION_SHARPNESS
            else:
                value = noise
            param.copy_(value)
        head = model.language_model.lm_head.weight
        head.mul_(4.0)
        head[quiet_ids] *= 0.1
        # Hidden dimension 0 carries a steady positive offset from every token embedding; the stop
        # token's row reads it, so stopping competes with content tokens instead of never winning.
        model.language_model.get_input_embeddings().weight[:, 0] += stop_bias[0]
        head[stop_id, 0] += stop_bias[1]


def build_tiny_model(family: Family, *, seed: int = 0, mpo: bool = False, work_dir: Path | None = None):
    """(in-memory InternVLModel in fp32, config dict, tokenizer dir) for a tiny checkpoint.

    The tokenizer is written to ``work_dir`` (a temporary directory if None) because the model's
    vocabulary size and token ids come from it.
    """
    import tempfile

    from vleval.models.internvl.config import parse_config
    from vleval.models.internvl.modeling import InternVLModel

    tok_dir = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="vleval-tok-"))
    n_tokens, ids, quiet = _write_tokenizer(family, tok_dir)
    vocab_size = -(-n_tokens // 16) * 16  # padded like the real embeddings (151674 > 151665 tokens)
    config = tiny_config(family, vocab_size, ids, mpo=mpo)
    with torch.device("cpu"):
        model = InternVLModel(parse_config(config))
    quiet += list(range(n_tokens, vocab_size))
    _randomize(model, seed + (1000 if mpo else 0), ids[stop_token(family)], quiet, STOP_BIAS[family])
    model.img_context_token_id = ids["<IMG_CONTEXT>"]
    return model.eval(), config, tok_dir


def make_tiny_checkpoint(
    path: Path, family: Family, *, seed: int = 0, shards: int = 2, mpo: bool = False
) -> Path:
    """Write a tiny checkpoint of ``family`` to ``path`` (created) and return ``path``."""
    spec = {"version": _FORMAT_VERSION, "family": family, "seed": seed, "shards": shards, "mpo": mpo}
    return _build_once(Path(path), spec, lambda staging: _write_original(staging, family, seed, shards, mpo))


def _build_once(path: Path, spec: dict[str, Any], write: Callable[[Path], None]) -> Path:
    """``write`` the files into a staging folder beside ``path`` and move it in at the end (an interrupted
    build leaves no half checkpoint); a folder already built from the same ``spec`` is reused, and a
    folder vleval did not build is never deleted."""
    marker = path / _MARKER
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return path
    if path.exists() and any(path.iterdir()) and not marker.is_file():
        raise VlevalError(
            f"{path} exists and is not a vleval synthetic checkpoint; choose an empty directory"
        )
    staging = path.parent / f".{path.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write(staging)
    (staging / _MARKER).write_text(json.dumps(spec) + "\n")
    if path.exists():
        shutil.rmtree(path)  # empty, or an older synthetic build
    staging.rename(path)
    return path


def _write_original(staging: Path, family: Family, seed: int, shards: int, mpo: bool) -> None:
    from vleval.models.internvl.weights import save_sharded, to_checkpoint_tensors

    model, config, _ = build_tiny_model(family, seed=seed, mpo=mpo, work_dir=staging)
    llm = config["llm_config"]
    tensors = to_checkpoint_tensors(
        model.state_dict(), family, llm["num_attention_heads"], llm["num_key_value_heads"]
    )
    save_sharded(tensors, staging, shards)
    (staging / "config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    gen = {"_from_model_config": True, "transformers_version": "4.37.2"}
    (staging / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n", encoding="utf-8")


def make_tiny_base_llm(path: Path, *, seed: int = 0) -> Path:
    """The LLM base of the tiny Qwen2 checkpoint of ``seed``: its language model saved on its own as a
    plain ``Qwen2ForCausalLM`` folder (config.json, model.safetensors, the Qwen2.5 tokenizer files with
    their chat template), as the Qwen2.5 chat model an InternVL2.5 checkpoint is built on is published.
    Loaded by transformers natively (``vleval.models.base_llm``); same seed -> the same files."""
    spec = {"version": _FORMAT_VERSION, "kind": "base-llm", "family": "qwen2", "seed": seed}

    def write(staging: Path) -> None:
        model, _, _ = build_tiny_model("qwen2", seed=seed, work_dir=staging)
        model.language_model.save_pretrained(staging, safe_serialization=True)

    return _build_once(Path(path), spec, write)


def make_tiny_hf_checkpoint(path: Path, family: Family = "qwen2", *, seed: int = 0) -> Path:
    """The transformers-native ``-HF`` twin of ``make_tiny_checkpoint(path, family, seed=seed)``: the same
    random weights converted to ``InternVLForConditionalGeneration``'s layout (``hf_native.to_hf_state_dict``:
    renamed, the ViT's ``qkv`` split), its ``config.json`` (model_type ``internvl``, ``text_config`` +
    ``vision_config``), written by transformers' ``save_pretrained``; the same tokenizer files. InternLM2 has
    no -HF layout (transformers has no InternLM2 class)."""
    if family == "internlm2":
        raise VlevalError("the -HF layout has no InternLM2 model: choose qwen2, qwen3, qwen3_moe or gpt_oss")
    spec = {"version": _FORMAT_VERSION, "layout": "hf", "family": family, "seed": seed}
    return _build_once(Path(path), spec, lambda staging: _write_hf(staging, family, seed))


def _write_hf(staging: Path, family: Family, seed: int) -> None:
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    from vleval.models.internvl.hf_native import hf_config, to_hf_state_dict

    model, config, _ = build_tiny_model(family, seed=seed, work_dir=staging)
    fields = hf_config(config, model.img_context_token_id)
    hf_cfg = InternVLConfig(**fields)
    hf_cfg.architectures = fields["architectures"]
    with torch.device("meta"):
        hf_model = InternVLForConditionalGeneration(hf_cfg)
    hf_model.load_state_dict(to_hf_state_dict(model.state_dict()), strict=True, assign=True)
    hf_model.save_pretrained(staging, safe_serialization=True)
    # the image processor config the -HF repos ship (transformers' GotOcr2 tiling); vleval reads it not:
    # it tiles as the reference does (internvl/hf_native.py)
    from transformers import GotOcr2ImageProcessorPil

    from vleval.models.internvl.preprocessing import IMAGENET_MEAN, IMAGENET_STD

    GotOcr2ImageProcessorPil(
        crop_to_patches=True,
        min_patches=1,
        max_patches=config["max_dynamic_patch"],
        size={"height": config["force_image_size"], "width": config["force_image_size"]},
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    ).save_pretrained(staging)
