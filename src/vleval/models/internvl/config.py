"""InternVL2.5 ``config.json`` (model_type ``internvl_chat``) read as plain data, no remote code.

Field meanings: docs/model-protocol.md (IV configuration_internvl_chat.py,
configuration_intern_vit.py, internlm2/configuration_internlm2.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vleval.errors import DataCorruptError, DataMissingError, VlevalError

LLM_ARCHITECTURES = {
    "Qwen2ForCausalLM": "qwen2",  # InternVL2.5 and InternVL3 (Qwen2.5 LLMs)
    "InternLM2ForCausalLM": "internlm2",
    "Qwen3ForCausalLM": "qwen3",  # InternVL3.5 dense
    "Qwen3MoeForCausalLM": "qwen3_moe",  # InternVL3.5-30B-A3B and -241B-A28B
    "GptOssForCausalLM": "gpt_oss",  # InternVL3.5-GPT-OSS-20B-A4B-Preview
}
# LLMs of released InternVL checkpoints that vleval cannot build from transformers classes: why, in words.
REFUSED_ARCHITECTURES = {
    "InternLM3ForCausalLM": "transformers has no native InternLM3 model class (InternVL3-9B)",
}


@dataclass(frozen=True)
class VisionConfig:
    """InternViT hyper-parameters (defaults: IV configuration_intern_vit.py::InternVisionConfig)."""

    hidden_size: int = 3200
    num_attention_heads: int = 25
    intermediate_size: int = 12800
    num_hidden_layers: int = 48
    image_size: int = 448
    patch_size: int = 14
    num_channels: int = 3
    qkv_bias: bool = False
    qk_normalization: bool = True
    norm_type: str = "rms_norm"
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu"

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config.json") -> VisionConfig:
        """The known fields of ``vision_config``, each checked against its default's type."""
        values: dict[str, Any] = {}
        for name, spec in cls.__dataclass_fields__.items():
            if name not in d:
                continue
            default = spec.default
            values[name] = _typed(d[name], type(default), f"{source}: vision_config.{name}")
        for name in _POSITIVE_VISION_INTS:  # each divides or sizes something: 0 would crash the model
            if name in values and values[name] < 1:
                raise DataCorruptError(
                    f"{source}: vision_config.{name} is {values[name]!r}, expected a positive integer; "
                    "re-download the checkpoint"
                )
        config = cls(**values)
        if config.patch_size > config.image_size:
            raise DataCorruptError(
                f"{source}: vision_config.patch_size {config.patch_size} is larger than image_size "
                f"{config.image_size}; re-download the checkpoint"
            )
        return config

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


_POSITIVE_VISION_INTS = (
    "hidden_size",
    "num_attention_heads",
    "intermediate_size",
    "num_hidden_layers",
    "image_size",
    "patch_size",
    "num_channels",
)


@dataclass(frozen=True)
class InternVLConfig:
    vision: VisionConfig
    llm_family: str  # a value of LLM_ARCHITECTURES
    llm: dict[str, Any]  # llm_config as stored (architectures, sizes, rope, ...)
    downsample_ratio: float = 0.5
    ps_version: str = "v2"
    select_layer: int = -1
    force_image_size: int | None = 448
    template: str | None = "internvl2_5"
    system_message: str | None = None  # only if the checkpoint's config carries one
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    hf_layout: bool = False  # a transformers-native -HF checkpoint (internvl/hf_native.py)

    @property
    def image_size(self) -> int:
        return self.force_image_size or self.vision.image_size

    @property
    def num_image_token(self) -> int:
        """Tokens per 448 tile: (448 // 14) ** 2 * 0.5 ** 2 = 256 (IV InternVLChatModel.__init__)."""
        return int((self.image_size // self.vision.patch_size) ** 2 * (self.downsample_ratio**2))

    @property
    def llm_hidden_size(self) -> int:
        return int(self.llm["hidden_size"])

    @property
    def llm_num_layers(self) -> int:
        return int(self.llm["num_hidden_layers"])


# llm_config fields the model is built from: they must be there, as positive integers.
REQUIRED_LLM_INTS = (
    "hidden_size",
    "num_attention_heads",
    "num_hidden_layers",
    "intermediate_size",
    "vocab_size",
)


def _typed(value: Any, kind: type, where: str) -> Any:
    """``value`` as ``kind`` (int, float, bool, str), or a DataCorruptError naming ``where``."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, kind):
        return value
    wanted = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, kind.__name__
    )
    raise DataCorruptError(f"{where} is {value!r}, expected {wanted}; re-download the checkpoint")


def _check_llm(llm: dict[str, Any], source: str) -> None:
    for name in REQUIRED_LLM_INTS:
        if name not in llm:
            raise DataCorruptError(f"{source}: llm_config.{name} is missing; re-download the checkpoint")
        if _typed(llm[name], int, f"{source}: llm_config.{name}") < 1:
            raise DataCorruptError(
                f"{source}: llm_config.{name} is {llm[name]!r}, expected a positive integer"
            )
    if llm.get("num_key_value_heads") is not None:
        _typed(llm["num_key_value_heads"], int, f"{source}: llm_config.num_key_value_heads")
    if llm["hidden_size"] % llm["num_attention_heads"]:
        raise DataCorruptError(
            f"{source}: llm_config.hidden_size {llm['hidden_size']} is not a multiple of "
            f"num_attention_heads {llm['num_attention_heads']}"
        )
    scaling = llm.get("rope_scaling")
    if scaling is not None and not isinstance(scaling, dict):
        raise DataCorruptError(
            f"{source}: llm_config.rope_scaling is {scaling!r}, expected an object or null"
        )


def parse_config(raw: Any, *, source: str = "config.json") -> InternVLConfig:
    """Validate and convert a config dict. Raises DataCorruptError naming the file and the field."""
    if not isinstance(raw, dict):
        raise DataCorruptError(
            f"{source}: holds a JSON {type(raw).__name__}, not an object; re-download the checkpoint"
        )
    from vleval.models.internvl.hf_native import as_custom_layout, is_hf_layout

    if is_hf_layout(raw):  # the transformers-native -HF layout: read as the original layout's fields
        config = parse_config(as_custom_layout(raw, source), source=source)
        return replace(config, raw=raw, hf_layout=True)
    if raw.get("model_type") != "internvl_chat":
        raise DataCorruptError(
            f"{source}: model_type is {raw.get('model_type')!r}, expected 'internvl_chat' "
            "(an original InternVL2.5 checkpoint as downloaded from OpenGVLab)"
        )
    for key in ("vision_config", "llm_config"):
        if not isinstance(raw.get(key), dict):
            raise DataCorruptError(f"{source}: missing or malformed '{key}'")
    llm = dict(raw["llm_config"])
    architectures = llm.get("architectures")
    arch = architectures[0] if isinstance(architectures, list) and architectures else architectures
    if isinstance(arch, str) and arch in REFUSED_ARCHITECTURES:
        raise VlevalError(
            f"{source}: llm_config.architectures[0] is {arch}: {REFUSED_ARCHITECTURES[arch]}; vleval does "
            "not run a checkpoint's own code, so this model cannot be evaluated yet"
        )
    if not isinstance(arch, str) or arch not in LLM_ARCHITECTURES:
        raise DataCorruptError(
            f"{source}: llm_config.architectures[0] is {arch!r}; supported: {', '.join(LLM_ARCHITECTURES)}"
        )
    ps_version = raw.get("ps_version", "v1")
    if ps_version not in ("v1", "v2"):
        raise DataCorruptError(f"{source}: ps_version {ps_version!r} is neither 'v1' nor 'v2'")
    _check_llm(llm, source)
    force_image_size = raw.get("force_image_size")
    if force_image_size is not None:
        force_image_size = _typed(force_image_size, int, f"{source}: force_image_size")
        if force_image_size < 1:
            raise DataCorruptError(
                f"{source}: force_image_size is {force_image_size}, expected a positive integer or null"
            )
    downsample_ratio = _typed(raw.get("downsample_ratio", 0.5), float, f"{source}: downsample_ratio")
    if not 0 < downsample_ratio <= 1:  # pixel shuffle scales each side by it: 0.5 in every InternVL2.5
        raise DataCorruptError(
            f"{source}: downsample_ratio is {downsample_ratio}, expected a number in (0, 1] (0.5 in "
            "InternVL2.5); re-download the checkpoint"
        )
    for name in ("template", "system_message"):
        if raw.get(name) is not None:
            _typed(raw[name], str, f"{source}: {name}")
    return InternVLConfig(
        vision=VisionConfig.from_dict(raw["vision_config"], source=source),
        llm_family=LLM_ARCHITECTURES[arch],
        llm=llm,
        downsample_ratio=downsample_ratio,
        ps_version=ps_version,
        select_layer=_typed(raw.get("select_layer", -1), int, f"{source}: select_layer"),
        force_image_size=force_image_size,
        template=raw.get("template"),
        system_message=raw.get("system_message"),
        raw=raw,
    )


def read_config(model_dir: Path) -> InternVLConfig:
    from vleval.models.metadata import read_metadata_json

    path = Path(model_dir) / "config.json"
    if not os.path.lexists(path):
        raise DataMissingError(
            f"no config.json in {model_dir}: point --model-dir at a downloaded InternVL2.5 checkpoint "
            "(vleval models download NAME)"
        )
    return parse_config(read_metadata_json(path), source=str(path))
