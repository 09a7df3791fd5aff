"""The language model from maintained transformers classes, no remote code.

- Qwen2 (1B/4B/38B/78B): ``Qwen2ForCausalLM`` as is; checkpoint names already match.
- InternLM2 (2B/8B/26B): ``LlamaForCausalLM``. InternLM2 is Llama with a fused, KV-group-major
  ``wqkv`` and other weight names (§8.5, §8.6; ``weights.py`` does the renaming and the split);
  RoPE is ``rotate_half`` style with optional ``dynamic`` (NTK) or ``linear`` scaling, which map to
  transformers' rope types of the same names.
- Qwen3 (InternVL3.5 dense) and Qwen3-MoE (InternVL3.5-30B-A3B, -241B-A28B): ``Qwen3ForCausalLM`` and
  ``Qwen3MoeForCausalLM``; names match the checkpoint except the MoE experts, which transformers keeps
  fused per layer (``weights.py`` stacks the per-expert tensors). InternVL3.5's released
  ``configuration_internvl_chat.py`` (IV ``internvl_chat_gpt_oss``) builds these configs from
  ``llm_config`` as stored and keeps its ``tie_word_embeddings`` (InternVL2.5's forces it off).
- GPT-OSS (InternVL3.5-GPT-OSS-20B-A4B-Preview): ``GptOssForCausalLM`` from ``llm_config`` as stored, as
  that same configuration file does; the checkpoint's names are transformers' own (the fused experts
  ``gate_up_proj`` ``[E, H, 2I]`` with gate/up interleaved, ``down_proj`` ``[E, I, H]``, their biases, the
  attention ``sinks``), saved by transformers in bf16, so they load one to one. transformers has no SDPA
  path for it (attention sinks): eager attention in every mode.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    GptOssConfig,
    GptOssForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

from vleval.errors import DataCorruptError, VlevalError

# Keys of llm_config that describe the file, not the model.
_NOT_MODEL_FIELDS = {
    "architectures",
    "auto_map",
    "_name_or_path",
    "model_type",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "attn_implementation",
    "_attn_implementation",
}


def _rope_parameters(llm: dict[str, Any]) -> dict[str, Any]:
    theta = float(llm.get("rope_theta", 10000.0))
    scaling = llm.get("rope_scaling")
    if not scaling:
        return {"rope_type": "default", "rope_theta": theta}
    kind = scaling.get("type") or scaling.get("rope_type")
    if kind not in ("dynamic", "linear"):
        raise DataCorruptError(
            f"config.json: llm_config.rope_scaling type {kind!r} is not 'dynamic' or 'linear'"
        )
    return {"rope_type": kind, "factor": float(scaling["factor"]), "rope_theta": theta}


def qwen2_config(llm: dict[str, Any]) -> Qwen2Config:
    fields = {k: v for k, v in llm.items() if k not in _NOT_MODEL_FIELDS}
    fields["tie_word_embeddings"] = False  # IV configuration_internvl_chat.py forces it off
    return Qwen2Config(**fields)


def internlm2_as_llama_config(llm: dict[str, Any]) -> LlamaConfig:
    hidden, heads = int(llm["hidden_size"]), int(llm["num_attention_heads"])
    return LlamaConfig(
        vocab_size=int(llm["vocab_size"]),
        hidden_size=hidden,
        intermediate_size=int(llm["intermediate_size"]),
        num_hidden_layers=int(llm["num_hidden_layers"]),
        num_attention_heads=heads,
        num_key_value_heads=int(llm.get("num_key_value_heads") or heads),
        head_dim=hidden // heads,
        hidden_act=llm.get("hidden_act", "silu"),
        max_position_embeddings=int(llm.get("max_position_embeddings", 2048)),
        rms_norm_eps=float(llm.get("rms_norm_eps", 1e-6)),
        rope_parameters=_rope_parameters(llm),
        attention_bias=bool(llm.get("bias", True)),  # InternLM2 puts config.bias on wqkv and wo only
        mlp_bias=False,
        tie_word_embeddings=False,
        bos_token_id=llm.get("bos_token_id", 1),
        eos_token_id=llm.get("eos_token_id", 2),
        pad_token_id=llm.get("pad_token_id", 0),
    )


def qwen3_config(llm: dict[str, Any], moe: bool = False) -> PretrainedConfig:
    fields = {k: v for k, v in llm.items() if k not in _NOT_MODEL_FIELDS}
    return (Qwen3MoeConfig if moe else Qwen3Config)(**fields)


def gpt_oss_config(llm: dict[str, Any]) -> GptOssConfig:
    fields = {k: v for k, v in llm.items() if k not in _NOT_MODEL_FIELDS}
    if fields.get("quantization_config"):  # openai/gpt-oss-20b's MXFP4 experts: not a layout vleval reads
        raise VlevalError(
            "config.json: llm_config.quantization_config is set (quantized GPT-OSS experts, e.g. "
            "openai/gpt-oss-20b's MXFP4 blocks and scales); vleval loads unquantized (bf16 or fp32) "
            "GPT-OSS weights only, the layout InternVL's GPT-OSS training code saves"
        )
    return GptOssConfig(**fields)


def llm_config(family: str, llm: dict[str, Any]) -> PretrainedConfig:
    if family == "gpt_oss":
        return gpt_oss_config(llm)
    if family in ("qwen3", "qwen3_moe"):
        return qwen3_config(llm, moe=family == "qwen3_moe")
    return qwen2_config(llm) if family == "qwen2" else internlm2_as_llama_config(llm)


# The attention kernel the reference runs per family (transformers 4.46.3 + InternVL's remote code,
# flash-attn absent): InternLM2's remote ``modeling_internlm2.py`` runs ``InternLM2Attention`` (eager:
# ``q @ k^T / sqrt(d)`` + mask, softmax in float32); 4.46's ``Qwen2ForCausalLM`` runs
# ``Qwen2SdpaAttention`` even when the config says eager (transformers 4.46.3 modeling_qwen2.py). Same maths,
# different bf16 rounding: with these, bf16 prefill logits are bit-identical to the reference's.
# Qwen3/Qwen3-MoE: SDPA, what transformers picks without flash-attn; bf16 predictions bit-identical to
# InternVL3.5's GitHub model code under transformers 4.55 on tiny checkpoints (bench/PARITY.md).
# GPT-OSS: eager, transformers' only CPU kernel with attention sinks (4.55's GptOss has no SDPA either).
REFERENCE_ATTENTION = {
    "qwen2": "sdpa",
    "internlm2": "eager",
    "qwen3": "sdpa",
    "qwen3_moe": "sdpa",
    "gpt_oss": "eager",
}
# Families whose transformers class has no SDPA kernel: 'sdpa' mode keeps their reference kernel.
_NO_SDPA = {"gpt_oss"}


def llm_attention(family: str, attention: str) -> str:
    """The LLM's ``attn_implementation`` for vleval's attention mode ('reference' or 'sdpa')."""
    if attention == "reference" or family in _NO_SDPA:
        return REFERENCE_ATTENTION[family]
    return "sdpa"


_CLASSES = {
    "qwen2": Qwen2ForCausalLM,
    "internlm2": LlamaForCausalLM,
    "qwen3": Qwen3ForCausalLM,
    "qwen3_moe": Qwen3MoeForCausalLM,
    "gpt_oss": GptOssForCausalLM,
}


def build_llm(family: str, llm: dict[str, Any], attn_implementation: str | None = None) -> PreTrainedModel:
    """``attn_implementation`` None: the reference's kernel for the family (``REFERENCE_ATTENTION``)."""
    config = llm_config(family, llm)
    config._attn_implementation = attn_implementation or REFERENCE_ATTENTION[family]
    return _CLASSES[family](config)
