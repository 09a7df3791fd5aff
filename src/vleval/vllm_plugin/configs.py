"""Config classes for InternVL2.5 checkpoints in their original layout, as transformers classes.

vLLM resolves a checkpoint's ``config.json`` through ``AutoConfig``. transformers knows only the
HF-converted ``internvl`` layout, and the original ``internvl_chat`` layout names config classes that
live in the checkpoint's own ``configuration_*.py`` (remote code). These classes stand in for them so
that vLLM loads the checkpoint with ``trust_remote_code=False`` and no Python file of the checkpoint
runs (docs/vllm-cpu.md).

Field names and defaults are the reference's (OpenGVLab/InternVL 2410d1db,
``internvl_chat/internvl/model/internvl_chat/configuration_internvl_chat.py``,
``configuration_intern_vit.py``, ``internvl_chat/internvl/model/internlm2/configuration_internlm2.py``),
written in transformers 5's dataclass style. Only what vLLM reads matters; everything else in
``config.json`` is kept as an attribute by ``PreTrainedConfig``.
"""

from __future__ import annotations

from typing import Any

from transformers import LlamaConfig, PretrainedConfig, Qwen2Config


class InternVisionConfig(PretrainedConfig):
    """InternViT (``vision_config``). Defaults are InternViT-6B's, as in the reference class."""

    model_type = "intern_vit_6b"

    num_channels: int = 3
    patch_size: int = 14
    image_size: int = 224
    qkv_bias: bool = False
    hidden_size: int = 3200
    num_attention_heads: int = 25
    intermediate_size: int = 12800
    qk_normalization: bool = True
    num_hidden_layers: int = 48
    use_flash_attn: bool = True
    hidden_act: str = "gelu"
    norm_type: str = "rms_norm"
    layer_norm_eps: float = 1e-6
    dropout: float = 0.0
    drop_path_rate: float = 0.0
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    initializer_factor: float = 0.1


class InternLM2Config(PretrainedConfig):
    """InternLM2 (``llm_config`` of the 2B/8B/26B checkpoints).

    ``rope_theta``/``rope_scaling`` (e.g. ``{"type": "dynamic", "factor": 2.0}``) are the checkpoint's
    legacy keys; ``PreTrainedConfig`` folds them into ``rope_parameters``, which vLLM reads.
    """

    model_type = "internlm2"

    vocab_size: int = 103168
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    initializer_range: float = 0.02
    rms_norm_eps: float = 1e-6
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    tie_word_embeddings: bool = False
    bias: bool = True
    rope_parameters: dict | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        kwargs.setdefault("rope_theta", 10000.0)
        # The checkpoint's attn_implementation ('eager' / 'flash_attention_2') is a choice of its own
        # modeling code; it must not select a transformers attention backend here.
        kwargs.pop("attn_implementation", None)
        super().__post_init__(**kwargs)


# llm_config.architectures[0] -> config class, as the reference's InternVLChatConfig chooses.
LLM_CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {
    "Qwen2ForCausalLM": Qwen2Config,
    "InternLM2ForCausalLM": InternLM2Config,
    "LlamaForCausalLM": LlamaConfig,
}


class InternVLChatConfig(PretrainedConfig):
    """The top-level ``internvl_chat`` config: InternViT + projector + a Qwen2/InternLM2/Llama LLM."""

    model_type = "internvl_chat"
    sub_configs = {"vision_config": InternVisionConfig, "llm_config": PretrainedConfig}

    vision_config: dict | PretrainedConfig | None = None
    llm_config: dict | PretrainedConfig | None = None
    use_backbone_lora: int = 0
    use_llm_lora: int = 0
    pad2square: bool = False
    select_layer: int = -1
    force_image_size: int | None = None
    downsample_ratio: float = 0.5
    template: str | None = None
    dynamic_image_size: bool = False
    use_thumbnail: bool = False
    ps_version: str = "v1"
    min_dynamic_patch: int = 1
    max_dynamic_patch: int = 6

    def __post_init__(self, **kwargs: Any) -> None:
        if not isinstance(self.vision_config, PretrainedConfig):
            self.vision_config = InternVisionConfig(**(self.vision_config or {}))
        if not isinstance(self.llm_config, PretrainedConfig):
            llm = dict(self.llm_config or {"architectures": ["LlamaForCausalLM"]})
            architecture = (llm.get("architectures") or [""])[0]
            if architecture not in LLM_CONFIG_CLASSES:
                raise ValueError(
                    f"internvl_chat: unsupported llm_config.architectures[0] {architecture!r}; "
                    f"expected one of {sorted(LLM_CONFIG_CLASSES)}"
                )
            llm.pop("model_type", None)  # the class decides; a stale value must not conflict
            self.llm_config = LLM_CONFIG_CLASSES[architecture](**llm)
        # The reference forces untied embeddings for every size (configuration_internvl_chat.py).
        self.tie_word_embeddings = False
        self.llm_config.tie_word_embeddings = False
        self.hidden_size = self.llm_config.hidden_size
        super().__post_init__(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output["vision_config"] = self.vision_config.to_dict()
        output["llm_config"] = self.llm_config.to_dict()
        return output
