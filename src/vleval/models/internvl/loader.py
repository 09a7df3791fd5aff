"""Load an original InternVL2.5 checkpoint directory without executing any file in it.

The module is built on the ``meta`` device (no memory), then every parameter is filled from the
safetensors shards straight onto its device. A checkpoint whose tensors do not map one to one onto
the module is refused, naming the tensors.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vleval.errors import DataCorruptError, VlevalError
from vleval.models import engine
from vleval.models.internvl.config import LLM_ARCHITECTURES, read_config
from vleval.models.internvl.modeling import InternVLModel
from vleval.models.internvl.weights import (
    ExpertStacker,
    checkpoint_names,
    iter_checkpoint,
    to_model_tensors,
    weight_files,
)

DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
}


def resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    """bf16 on every device, as the reference loads the model (``torch_dtype=torch.bfloat16``), unless
    asked otherwise (fp32 stays available: ``--dtype float32``)."""
    if dtype is None:
        return torch.bfloat16
    try:
        return DTYPES[dtype]
    except KeyError:
        raise VlevalError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}") from None


def split_device_map(num_layers: int, n_gpus: int, family: str = "qwen2") -> dict[str, int]:
    """The reference's layer split for large models (running.md §4.2; IV ``split_model``).

    The vision tower counts as half a GPU: ``per = ceil(L / (g - 0.5))`` layers per GPU, the first
    GPU gets ``ceil(per / 2)``; layers go out consecutively. The ViT, projector, embeddings, final
    norm, rotary embedding, output head and the **last** layer sit on GPU 0. Keys are our module
    names (InternLM2 is loaded as a Llama, so all families share them; ``family`` only validates).
    """
    if family not in LLM_ARCHITECTURES.values():
        raise VlevalError(f"unknown LLM family {family!r}")
    if n_gpus < 1 or num_layers < 1:
        raise VlevalError(f"cannot split {num_layers} layers over {n_gpus} GPUs")
    per_gpu = math.ceil(num_layers / (n_gpus - 0.5)) if n_gpus > 1 else num_layers
    counts = [per_gpu] * n_gpus
    counts[0] = math.ceil(per_gpu * 0.5) if n_gpus > 1 else num_layers
    device_map: dict[str, int] = {}
    layer = 0
    for gpu, count in enumerate(counts):
        for _ in range(count):
            if layer < num_layers:  # the reference also names surplus, non-existent layers
                device_map[f"language_model.model.layers.{layer}"] = gpu
            layer += 1
    for name in (
        "vision_model",
        "mlp1",
        "language_model.model.embed_tokens",
        "language_model.model.norm",
        "language_model.model.rotary_emb",
        "language_model.lm_head",
        f"language_model.model.layers.{num_layers - 1}",
    ):
        device_map[name] = 0
    return device_map


def split_device_map_for(num_layers: int, n_gpus: int, family: str, hf_layout: bool) -> dict[str, int]:
    """``split_device_map`` in the module names of the checkpoint's layout: the original layout's as they
    are, an ``-HF`` checkpoint's renamed (``hf_native.hf_device_map``); the same GPU for the same block."""
    device_map = split_device_map(num_layers, n_gpus, family)
    if not hf_layout:
        return device_map
    from vleval.models.internvl.hf_native import hf_device_map

    return hf_device_map(device_map)


def _device_of(name: str, device_map: dict[str, Any] | None, default: torch.device) -> torch.device:
    if not device_map:
        return default
    best = None
    for prefix in device_map:
        if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    if best is None:
        raise VlevalError(f"device_map does not place {name}; add an entry for it or one of its parents")
    target = device_map[best]
    return torch.device(f"cuda:{target}" if isinstance(target, int) else target)


def _set_parameter(model: nn.Module, name: str, value: torch.Tensor) -> None:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name)
    module._parameters[leaf] = nn.Parameter(value, requires_grad=False)


def _rebuild_rotary(model: nn.Module, device_map: dict[str, Any] | None, default: torch.device) -> None:
    """Rotary embeddings hold non-persistent buffers computed at init: recompute them off ``meta``."""
    for name, module in list(model.named_modules()):
        if hasattr(module, "inv_freq") and hasattr(module, "config"):
            with torch.device("cpu"):
                fresh = type(module)(module.config)
            parent_name, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent_name), leaf, fresh.to(_device_of(name, device_map, default)))


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple):
        return tuple(_to_device(o, device) for o in obj)
    if isinstance(obj, list):
        return [_to_device(o, device) for o in obj]
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _add_device_hooks(model: InternVLModel, device_map: dict[str, Any]) -> None:
    lm = model.language_model
    blocks = [*lm.model.layers, lm.model.norm, lm.lm_head]
    add_input_device_hooks([(block, next(block.parameters()).device) for block in blocks])


def add_input_device_hooks(placed: list[tuple[nn.Module, torch.device]]) -> None:
    """Move each block's inputs onto its device (what accelerate's dispatch does), so hidden states
    flow through layers placed on different GPUs."""
    for block, device in placed:

        def hook(_module, args, kwargs, device=device):
            return _to_device(args, device), _to_device(kwargs, device)

        block.register_forward_pre_hook(hook, with_kwargs=True)


def load_internvl(
    model_dir: Path,
    *,
    dtype: str | None = None,
    device: str | None = None,
    device_map: dict | None = None,
) -> InternVLModel:
    """Build the model from ``config.json`` and fill it from the safetensors shards.

    ``device_map`` (module-name prefix -> GPU index or device string, in the names of the checkpoint's
    layout: ``split_device_map_for``) places blocks on several devices; by default, with several GPUs
    visible and ``device`` unset or ``'cuda'``, the reference's split (``split_device_map``) is used.
    """
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    device = engine.default_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    if device_map is None and device == "cuda" and torch.cuda.device_count() > 1:
        device_map = split_device_map_for(
            config.llm_num_layers, torch.cuda.device_count(), config.llm_family, config.hf_layout
        )
    default_device = torch.device(device if device != "cuda" else "cuda:0")
    if config.hf_layout:  # transformers' own InternVLForConditionalGeneration (internvl/hf_native.py)
        return _with_image_token(
            _load_hf(model_dir, config, torch_dtype, default_device, device_map), model_dir
        )

    shards = weight_files(model_dir)
    try:
        with torch.device("meta"):
            model = InternVLModel(config)
    except (ValueError, TypeError, KeyError) as exc:  # values parse_config let through but the model rejects
        raise DataCorruptError(
            f"{model_dir / 'config.json'}: the model cannot be built from it ({type(exc).__name__}: {exc}); "
            "re-download the checkpoint"
        ) from None
    params = dict(model.named_parameters())
    num_experts = int(config.llm.get("num_experts") or 0) if config.llm_family == "qwen3_moe" else 0
    expected = {c for n in params for c in checkpoint_names(n, config.llm_family, num_experts)}
    present = {n for names in shards.values() for n in names}
    missing, unexpected = sorted(expected - present), sorted(present - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"missing tensors: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else "")
            )
        if unexpected:
            parts.append(
                f"unexpected tensors: {', '.join(unexpected[:10])}" + (" ..." if len(unexpected) > 10 else "")
            )
        raise DataCorruptError(
            f"{model_dir}: checkpoint does not match its config.json ({'; '.join(parts)}). "
            "Re-download the checkpoint, or check that config.json belongs to these weights."
        )

    heads = int(config.llm["num_attention_heads"])
    kv_heads = int(config.llm.get("num_key_value_heads") or heads)
    experts = ExpertStacker(num_experts)
    for ckpt_name, tensor in iter_checkpoint(model_dir, shards):
        for name, value in to_model_tensors(ckpt_name, tensor, config.llm_family, heads, kv_heads, experts):
            target = params[name]
            if tuple(value.shape) != tuple(target.shape):
                raise DataCorruptError(
                    f"{model_dir}: tensor {ckpt_name} has shape {tuple(tensor.shape)}, the config implies "
                    f"{tuple(target.shape)} for {name}; config.json and the weights disagree"
                )
            value = value.to(torch_dtype) if value.is_floating_point() else value
            _set_parameter(model, name, value.to(_device_of(name, device_map, default_device)))
    _rebuild_rotary(model, device_map, default_device)
    still_meta = [n for n, p in model.named_parameters() if p.is_meta]
    if still_meta:  # cannot happen when the key sets match; kept as a guard against silent garbage
        raise DataCorruptError(f"{model_dir}: parameters left unfilled: {', '.join(still_meta[:10])}")
    if device_map:
        _add_device_hooks(model, device_map)
    return _with_image_token(model, model_dir)


def _with_image_token(model: InternVLModel, model_dir: Path) -> InternVLModel:
    from vleval.models.internvl.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model.img_context_token_id = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    return model.eval()


def _load_hf(
    model_dir: Path, config, torch_dtype: torch.dtype, device: torch.device, device_map
) -> InternVLModel:
    from vleval.models.internvl.hf_native import load_hf_internvl

    return load_hf_internvl(model_dir, config, torch_dtype=torch_dtype, device=device, device_map=device_map)
