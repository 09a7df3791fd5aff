"""InternVL2.5 ``config.json`` (model_type ``internvl_chat``) read as plain data, no remote code.

Field meanings: docs/model-protocol.md (IV configuration_internvl_chat.py,
configuration_intern_vit.py, internlm2/configuration_internlm2.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vleval.errors import DataCorruptError, DataMissingError

LLM_ARCHITECTURES = {"Qwen2ForCausalLM": "qwen2", "InternLM2ForCausalLM": "internlm2"}


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
    def from_dict(cls, d: dict[str, Any]) -> VisionConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class InternVLConfig:
    vision: VisionConfig
    llm_family: str  # "qwen2" | "internlm2"
    llm: dict[str, Any]  # llm_config as stored (architectures, sizes, rope, ...)
    downsample_ratio: float = 0.5
    ps_version: str = "v2"
    select_layer: int = -1
    force_image_size: int | None = 448
    template: str | None = "internvl2_5"
    system_message: str | None = None  # only if the checkpoint's config carries one
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

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


def parse_config(raw: dict[str, Any], *, source: str = "config.json") -> InternVLConfig:
    """Validate and convert a config dict. Raises DataCorruptError naming the offending field."""
    if raw.get("model_type") != "internvl_chat":
        raise DataCorruptError(
            f"{source}: model_type is {raw.get('model_type')!r}, expected 'internvl_chat' "
            "(an original InternVL2.5 checkpoint as downloaded from OpenGVLab)"
        )
    for key in ("vision_config", "llm_config"):
        if not isinstance(raw.get(key), dict):
            raise DataCorruptError(f"{source}: missing or malformed '{key}'")
    llm = dict(raw["llm_config"])
    arch = (llm.get("architectures") or [None])[0]
    if arch not in LLM_ARCHITECTURES:
        raise DataCorruptError(
            f"{source}: llm_config.architectures[0] is {arch!r}; supported: {', '.join(LLM_ARCHITECTURES)}"
        )
    ps_version = raw.get("ps_version", "v1")
    if ps_version not in ("v1", "v2"):
        raise DataCorruptError(f"{source}: ps_version {ps_version!r} is neither 'v1' nor 'v2'")
    return InternVLConfig(
        vision=VisionConfig.from_dict(raw["vision_config"]),
        llm_family=LLM_ARCHITECTURES[arch],
        llm=llm,
        downsample_ratio=float(raw.get("downsample_ratio", 0.5)),
        ps_version=ps_version,
        select_layer=int(raw.get("select_layer", -1)),
        force_image_size=raw.get("force_image_size"),
        template=raw.get("template"),
        system_message=raw.get("system_message"),
        raw=raw,
    )


def read_config(model_dir: Path) -> InternVLConfig:
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise DataMissingError(
            f"no config.json in {model_dir}: point --model-dir at a downloaded InternVL2.5 checkpoint "
            "(vleval models download NAME)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataCorruptError(f"{path}: not valid JSON ({exc}); re-download the checkpoint") from None
    return parse_config(raw, source=str(path))
