"""The transformers-native ``-HF`` InternVL checkpoints (``OpenGVLab/InternVL3-1B-hf`` ...), run through
transformers' own ``InternVLForConditionalGeneration``, never the checkpoint's code.

The reference (VLMEvalKit's InternVL wrapper) only loads the original layout (``internvl_chat`` with
``llm_config``); an ``-HF`` repo holds the same weights renamed and re-split by transformers' conversion
(model_type ``internvl``: ``vision_config`` + ``text_config``; the ViT's fused ``qkv`` split into
``q_proj``/``k_proj``/``v_proj``, ``mlp1`` renamed ``multi_modal_projector``). vleval evaluates it as
the original checkpoint of the same weights: the reference's prompt (``template.render_query``) and
its tiling (``preprocessing.prepare_pixels``: InternVL's ``dynamic_preprocess``) are vleval's own, and
the model gets the token ids and pixel values. The checkpoint's processor and chat template (transformers'
``GotOcr2ImageProcessor`` tiling) are not used: they are not what the reference runs.

``HFNativeInternVL`` gives the loaded model the interface of ``modeling.InternVLModel`` (feature
extraction, image-embedding scatter, greedy ``generate``), so the ``hf`` backend runs it unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vleval.errors import DataCorruptError, VlevalError
from vleval.models.internvl.config import LLM_ARCHITECTURES, REFUSED_ARCHITECTURES, InternVLConfig
from vleval.models.internvl.modeling import InternVLModel

HF_ARCHITECTURE = "InternVLForConditionalGeneration"
HF_MODEL_TYPE = "internvl"
CUSTOM_ARCHITECTURE = "InternVLChatModel"
# text_config.model_type (every text_config carries one) -> the LLM class of the original layout
_TEXT_MODEL_TYPES = {family: arch for arch, family in LLM_ARCHITECTURES.items() if family != "internlm2"}
# LLMs of released -HF checkpoints without a native transformers class usable here, by model_type
_REFUSED_TEXT_MODEL_TYPES = {"internlm3": "InternLM3ForCausalLM"}


def is_hf_layout(raw: dict[str, Any]) -> bool:
    """Is this ``config.json`` the transformers-native layout?"""
    arch = raw.get("architectures")
    return raw.get("model_type") == HF_MODEL_TYPE or (isinstance(arch, list) and HF_ARCHITECTURE in arch)


def _pair(value: Any, where: str) -> int:
    """``image_size``/``patch_size`` as the -HF config stores them ([h, w] or one int): one square side."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and value[0] == value[1]
        and isinstance(value[0], int)
    ):
        return int(value[0])
    raise DataCorruptError(f"{where} is {value!r}, expected a square size (an integer or [n, n])")


def as_custom_layout(raw: dict[str, Any], source: str = "config.json") -> dict[str, Any]:
    """An ``-HF`` ``config.json`` expressed as the original layout's (``internvl_chat``) fields: what the
    config parser, the checkpoint verification and the cost model read. One line, exit 2, for an LLM
    transformers has no native class for, or a setting the original layout cannot express."""
    text, vision = raw.get("text_config"), raw.get("vision_config")
    if not isinstance(text, dict) or not isinstance(vision, dict):
        raise DataCorruptError(
            f"{source}: model_type is 'internvl' (the -HF layout, {HF_ARCHITECTURE}), which needs "
            "text_config and vision_config objects; re-download the checkpoint"
        )
    text_type = text.get("model_type", "qwen2")  # transformers' default text_config is Qwen2
    arch = _TEXT_MODEL_TYPES.get(text_type)
    if arch is None:
        refused = _REFUSED_TEXT_MODEL_TYPES.get(text_type)
        why = REFUSED_ARCHITECTURES.get(
            refused or "", f"vleval loads -HF checkpoints on {', '.join(_TEXT_MODEL_TYPES)} LLMs only"
        )
        raise VlevalError(
            f"{source}: this -HF checkpoint's LLM (text_config.model_type {text_type!r}) cannot be loaded: "
            f"{why}; vleval never runs a checkpoint's own code"
        )
    layer = raw.get("vision_feature_layer", -1)
    strategy = raw.get("vision_feature_select_strategy", "default")
    if (
        not isinstance(layer, int)
        or strategy != "default"
        or raw.get("projector_hidden_act", "gelu") != "gelu"
    ):
        raise DataCorruptError(
            f"{source}: vision_feature_layer {layer!r}, vision_feature_select_strategy {strategy!r}, "
            f"projector_hidden_act {raw.get('projector_hidden_act')!r}: InternVL uses one layer, drops the CLS "
            "token ('default') and a GELU projector; re-download the checkpoint"
        )
    image_size = _pair(vision.get("image_size", 448), f"{source}: vision_config.image_size")
    llm = {k: v for k, v in text.items() if k not in ("model_type", "architectures")}
    llm.update(architectures=[arch], model_type=text_type)
    llm.setdefault("tie_word_embeddings", bool(raw.get("tie_word_embeddings", False)))
    custom = {
        "architectures": [CUSTOM_ARCHITECTURE],
        "model_type": "internvl_chat",
        "downsample_ratio": raw.get("downsample_ratio", 0.5),
        "ps_version": "v2",  # transformers' pixel_shuffle is the v2 order
        "select_layer": layer,
        "force_image_size": image_size,
        "template": _template_of(text_type),
        "llm_config": llm,
        "vision_config": {
            "hidden_size": vision.get("hidden_size"),
            "num_attention_heads": vision.get("num_attention_heads"),
            "intermediate_size": vision.get("intermediate_size"),
            "num_hidden_layers": vision.get("num_hidden_layers"),
            "image_size": image_size,
            "patch_size": _pair(vision.get("patch_size", 14), f"{source}: vision_config.patch_size"),
            "num_channels": vision.get("num_channels", 3),
            "qkv_bias": bool(vision.get("attention_bias", False)),
            "qk_normalization": bool(vision.get("use_qk_norm", False)),
            "norm_type": vision.get("norm_type", "layer_norm"),
            "layer_norm_eps": vision.get("layer_norm_eps", 1e-6),
            "hidden_act": vision.get("hidden_act", "gelu"),
        },
    }
    # a field the -HF config leaves out keeps the original layout's default (VisionConfig)
    custom["vision_config"] = {k: v for k, v in custom["vision_config"].items() if v is not None}
    return custom


def _template_of(text_model_type: str) -> str:
    """The conversation template the original checkpoint of this LLM names (its ``config.json``'s
    ``template``): InternVL3.5-GPT-OSS's own, else ``internvl2_5``."""
    return "internvl3_5_gpt_oss" if text_model_type == "gpt_oss" else "internvl2_5"


def hf_config(custom: dict[str, Any], image_token_id: int) -> dict[str, Any]:
    """The ``-HF`` ``config.json`` fields of an original-layout config (the inverse of ``as_custom_layout``)."""
    vision, llm = custom["vision_config"], custom["llm_config"]
    family = LLM_ARCHITECTURES[llm["architectures"][0]]
    if family not in _TEXT_MODEL_TYPES:
        raise VlevalError(f"the -HF layout has no text model for the {family} LLM")
    side = custom.get("force_image_size") or vision["image_size"]
    text = {
        k: v for k, v in llm.items() if k not in ("architectures", "auto_map", "_name_or_path", "torch_dtype")
    }
    text["model_type"] = family
    return {
        "architectures": [HF_ARCHITECTURE],
        "model_type": HF_MODEL_TYPE,
        "downsample_ratio": custom.get("downsample_ratio", 0.5),
        "image_token_id": image_token_id,
        "image_seq_length": int(
            (side // vision["patch_size"]) ** 2 * custom.get("downsample_ratio", 0.5) ** 2
        ),
        "projector_hidden_act": "gelu",
        "vision_feature_layer": custom.get("select_layer", -1),
        "vision_feature_select_strategy": "default",
        "tie_word_embeddings": bool(llm.get("tie_word_embeddings", False)),
        "text_config": text,
        "vision_config": {
            "hidden_size": vision["hidden_size"],
            "num_attention_heads": vision["num_attention_heads"],
            "intermediate_size": vision["intermediate_size"],
            "num_hidden_layers": vision["num_hidden_layers"],
            "image_size": [side, side],
            "patch_size": [vision["patch_size"], vision["patch_size"]],
            "num_channels": vision.get("num_channels", 3),
            "attention_bias": bool(vision.get("qkv_bias", False)),
            "use_qk_norm": bool(vision.get("qk_normalization", False)),
            "norm_type": vision.get("norm_type", "rms_norm"),
            "layer_norm_eps": vision.get("layer_norm_eps", 1e-6),
            "hidden_act": vision.get("hidden_act", "gelu"),
            "use_mean_pooling": True,  # no final layer norm: InternViT has none
            "use_absolute_position_embeddings": True,
            "use_mask_token": False,
        },
    }


# ------------------------------------------------------------------------------------------------
# Weight names: original layout -> -HF (transformers' InternVL conversion), by prefix / block suffix.
# ------------------------------------------------------------------------------------------------
_TOP = (
    ("vision_model.embeddings.class_embedding", "model.vision_tower.embeddings.cls_token"),
    (
        "vision_model.embeddings.patch_embedding.",
        "model.vision_tower.embeddings.patch_embeddings.projection.",
    ),
    ("vision_model.embeddings.position_embedding", "model.vision_tower.embeddings.position_embeddings"),
    ("mlp1.0.", "model.multi_modal_projector.layer_norm."),
    ("mlp1.1.", "model.multi_modal_projector.linear_1."),
    ("mlp1.3.", "model.multi_modal_projector.linear_2."),
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
)
_VIT_BLOCK = (
    ("attn.proj.", "attention.projection_layer."),
    ("attn.q_norm.", "attention.q_norm."),
    ("attn.k_norm.", "attention.k_norm."),
    ("norm1.", "layernorm_before."),
    ("norm2.", "layernorm_after."),
    ("ls1", "lambda_1"),
    ("ls2", "lambda_2"),
    ("mlp.", "mlp."),
)
_VIT_LAYERS, _HF_VIT_LAYERS = "vision_model.encoder.layers.", "model.vision_tower.encoder.layer."


def to_hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An original-layout state dict (``InternVLModel``'s names = the checkpoint's for Qwen LLMs) renamed
    to ``InternVLForConditionalGeneration``'s; the ViT's fused ``qkv`` rows [q; k; v] are split in three."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name.startswith(_VIT_LAYERS):
            index, _, rest = name[len(_VIT_LAYERS) :].partition(".")
            block = f"{_HF_VIT_LAYERS}{index}."
            if rest.startswith("attn.qkv."):
                leaf = rest.rsplit(".", 1)[1]
                for part, piece in zip("qkv", tensor.chunk(3, dim=0), strict=True):
                    out[f"{block}attention.{part}_proj.{leaf}"] = piece.contiguous()
                continue
            renamed = next((block + theirs + rest[len(ours) :] for ours, theirs in _VIT_BLOCK
                            if rest.startswith(ours)), None)  # fmt: skip
        else:
            renamed = next(
                (theirs + name[len(ours) :] for ours, theirs in _TOP if name.startswith(ours)), None
            )
        if renamed is None:
            raise VlevalError(f"no -HF name for the tensor {name}")
        out[renamed] = tensor.contiguous()
    return out


# ------------------------------------------------------------------------------------------------
# Module names of the multi-GPU split: original layout -> InternVLForConditionalGeneration's
# ------------------------------------------------------------------------------------------------
# the blocks ``loader.split_device_map`` places (whole modules, so no per-tensor renames: the ViT's
# internals move with ``vision_tower``)
_MODULES = (
    ("vision_model", "model.vision_tower"),
    ("mlp1", "model.multi_modal_projector"),
    ("language_model.model", "model.language_model"),
    ("language_model.lm_head", "lm_head"),
)


def hf_module_name(name: str) -> str:
    """An original-layout module name (``language_model.model.layers.7``) as the -HF model names that
    module (``model.language_model.layers.7``)."""
    for ours, theirs in _MODULES:
        if name == ours or name.startswith(ours + "."):
            return theirs + name[len(ours) :]
    raise VlevalError(f"no -HF module for {name}")


def hf_device_map(device_map: dict[str, Any]) -> dict[str, Any]:
    """The original layout's split (``loader.split_device_map``) in -HF module names: each block goes to
    the same device as in the original layout of the same model."""
    return {hf_module_name(name): device for name, device in device_map.items()}


def _placed_device(value: Any) -> torch.device:
    """A device_map value: a GPU index (as ``split_device_map`` gives) or a device string."""
    return torch.device(f"cuda:{value}" if isinstance(value, int) else value)


_HF_NAMES_HINT = (
    "its keys are InternVLForConditionalGeneration's module names (model.vision_tower, "
    "model.language_model.layers.N, lm_head, ...), as loader.split_device_map_for gives them"
)


def _check_placed_once(name: str, device_map: dict[str, Any]) -> None:
    """Exactly one device_map entry holds the tensor ``name``: a map that leaves a tensor out, or names a
    block and one of its parts, is not a split."""
    owners = [prefix for prefix in device_map if name == prefix or name.startswith(prefix + ".")]
    if len(owners) != 1:
        raise VlevalError(
            f"the -HF device_map must place {name} exactly once (entries that hold it: "
            f"{', '.join(owners) or 'none'}); {_HF_NAMES_HINT}"
        )


def place_modules(hf_model: nn.Module, device_map: dict[str, Any]) -> None:
    """Move each module named in ``device_map`` to its device and move its inputs there when it runs, as
    the original layout's split does (``loader.add_input_device_hooks``): the image goes to the ViT's
    device, token ids to the embedding's, hidden states from layer to layer, and the logits come out on
    ``lm_head``'s (GPU 0 in the reference's split, with the embeddings). Every parameter and buffer must
    be under exactly one entry, and every entry must name a module."""
    from vleval.models.internvl.loader import add_input_device_hooks

    modules = dict(hf_model.named_modules())
    absent = [name for name in device_map if name not in modules]
    if absent:
        raise VlevalError(
            f"the -HF device_map names modules this checkpoint does not have: {', '.join(absent[:5])}; "
            + _HF_NAMES_HINT
        )
    for name, _ in [*hf_model.named_parameters(), *hf_model.named_buffers()]:
        _check_placed_once(name, device_map)
    placed = [(modules[name], _placed_device(value)) for name, value in device_map.items()]
    for module, device in placed:
        module.to(device)
    add_input_device_hooks(placed)


# ------------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------------
REFERENCE_VIT_ATTENTION = "vleval_intern_vit_reference"


def _reference_vit_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """The ViT attention in the reference's op order (``vision.InternAttention``: scale q first, then
    q @ k^T, softmax in the input dtype, @ v). transformers' eager kernel scales q @ k^T instead, which
    rounds differently in bf16 unless the scale is a power of two (head size 128 of the 6B tower: it is
    not); ``[B, heads, N, d]`` in, ``[B, N, heads, d]`` out as transformers' kernels return it."""
    attn = ((query * scaling) @ key.transpose(-2, -1)).softmax(dim=-1)
    return (attn @ value).transpose(1, 2).contiguous(), None


def _register_reference_vit_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(REFERENCE_VIT_ATTENTION, _reference_vit_attention)


class HFNativeInternVL(InternVLModel):
    """transformers' ``InternVLForConditionalGeneration`` behind ``InternVLModel``'s interface: the image
    features are its ``get_image_features``, embedding and greedy generation its own modules (``embed``
    and ``generate`` are ``InternVLModel``'s, reading ``language_model`` = the transformers model)."""

    def __init__(self, hf_model: nn.Module, config: InternVLConfig):
        nn.Module.__init__(self)  # not InternVLModel.__init__: the modules are transformers' own
        self.config = config
        self.hf = hf_model
        self.img_context_token_id: int | None = None
        self.attention = "reference"

    @property
    def language_model(self) -> nn.Module:  # type: ignore[override]
        return self.hf

    def set_attention(self, attention: str) -> None:
        """'reference': the reference's ViT op order and LLM kernel; 'sdpa': SDPA for both."""
        from vleval.models.internvl.llm import llm_attention

        if attention not in ("reference", "sdpa"):
            raise VlevalError(f"attention must be 'reference' or 'sdpa', not {attention!r}")
        text = llm_attention(self.config.llm_family, attention)
        vision = REFERENCE_VIT_ATTENTION if attention == "reference" else "sdpa"
        _register_reference_vit_attention()
        self.hf.set_attn_implementation({"text_config": text, "vision_config": vision, "": text})
        self.attention = attention

    def extract_feature(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.hf.model.get_image_features(
            pixel_values=pixel_values.to(self.hf.device),
            vision_feature_layer=self.config.select_layer,
            vision_feature_select_strategy="default",
        )
        return out.pooler_output


def load_hf_internvl(
    model_dir: Path,
    config: InternVLConfig,
    *,
    torch_dtype: torch.dtype,
    device: torch.device,
    device_map: dict[str, Any] | None = None,
) -> HFNativeInternVL:
    """``InternVLForConditionalGeneration.from_pretrained`` on the folder: safetensors only, no remote code,
    every tensor present (a missing or unexpected one is refused, naming them). With ``device_map`` (-HF
    module names: ``hf_device_map``) the blocks are split over its devices by ``place_modules``, else the
    model goes to ``device``. The weights are read into CPU memory first either way: transformers places
    them while loading only through accelerate, which vleval does not depend on."""
    from transformers import InternVLForConditionalGeneration

    try:
        hf_model, info = InternVLForConditionalGeneration.from_pretrained(
            str(model_dir),
            dtype=torch_dtype,
            use_safetensors=True,
            trust_remote_code=False,
            local_files_only=True,
            output_loading_info=True,
        )
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        why = " ".join(str(exc).split())[:300]  # one line, bounded: transformers' messages span many
        if "ignore_mismatched_sizes" in why:  # transformers logs the table of tensors and shapes first
            why = "tensor shapes disagree with config.json; the report above names them"
        raise DataCorruptError(
            f"{model_dir}: the -HF checkpoint cannot be loaded ({type(exc).__name__}: {why}); re-download it"
        ) from None

    missing, unexpected = info.get("missing_keys") or [], info.get("unexpected_keys") or []
    if missing or unexpected:
        raise DataCorruptError(
            f"{model_dir}: checkpoint does not match its config.json (missing tensors: "
            f"{', '.join(sorted(missing)[:10]) or 'none'}; unexpected tensors: "
            f"{', '.join(sorted(unexpected)[:10]) or 'none'}); re-download the checkpoint"
        )
    if device_map:
        place_modules(hf_model, device_map)
    else:
        hf_model.to(device)
    return HFNativeInternVL(hf_model.eval(), config)
