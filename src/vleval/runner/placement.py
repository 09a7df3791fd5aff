"""GPU placement: which device(s) a rank's model goes to, the backend loaded there, and the memory
freed before the next model loads. A rank of a distributed run gets its share of the node's visible
GPUs (``dist.assign_gpus``); a model larger than one GPU is split over several by layer
(``models.internvl.loader.split_device_map``; an -HF checkpoint the same way, in its module names)."""

from __future__ import annotations

from typing import Any

from vleval.errors import VlevalError
from vleval.runner.config import RunConfig, backend_options
from vleval.runner.dist import DistInfo, assign_gpus
from vleval.runner.targets import ModelTarget


def uses_cuda(config: RunConfig) -> bool:
    """Whether the models of this run go to CUDA devices: ``--device`` when given, else any GPU seen."""
    if config.device is not None:
        return config.device.startswith("cuda")
    import torch

    return torch.cuda.is_available()


def release_memory(use_cuda: bool) -> None:
    """Free the last model's memory (and CUDA's cached blocks) before the next model loads."""
    import gc

    gc.collect()
    if use_cuda:
        import torch

        torch.cuda.empty_cache()


def gpus_for(info: DistInfo, card_gpus_per_task: int) -> list[int]:
    """The visible GPUs this rank's model goes to: the job's ``GPUS_PER_TASK``, else the card's need
    within the node's share per local rank; [] without a GPU."""
    import torch

    n_visible = torch.cuda.device_count()
    if n_visible == 0:
        return []
    per_task = info.gpus_per_task or max(
        1, min(card_gpus_per_task, n_visible // max(1, info.local_world_size))
    )
    return assign_gpus(n_visible, info.local_rank, info.local_world_size, per_task)


def backend_kwargs(config: RunConfig, target: ModelTarget, info: DistInfo, use_cuda: bool) -> dict[str, Any]:
    """``device`` (one device) or ``device_map`` (the model split by layer over this rank's GPUs), and
    ``dtype``, for loading ``target``."""
    kwargs: dict[str, Any] = {"dtype": config.dtype}
    if not use_cuda:
        kwargs["device"] = config.device or "cpu"
        return kwargs
    if config.device is not None and config.device != "cuda":
        kwargs["device"] = config.device
        return kwargs
    gpus = gpus_for(info, target.card.gpus_per_task)
    if len(gpus) <= 1:
        kwargs["device"] = f"cuda:{gpus[0] if gpus else 0}"
        return kwargs
    from vleval.models.internvl.loader import split_device_map_for

    card = target.card
    layout = split_device_map_for(card.llm_layers, len(gpus), card.llm_family, hf_layout=card.hf_format)
    kwargs["device_map"] = {name: gpus[slot] for name, slot in layout.items()}
    return kwargs


def make_backend(config: RunConfig, target: ModelTarget, info: DistInfo, use_cuda: bool) -> Any:
    """The inference backend for ``target``, loaded on its devices (or ``config.backend_factory``'s)."""
    if config.backend == "openai" and target.card.llm_family == "gpt_oss":
        # the openai backend sends the internvl2_5 system message and stops on <|im_end|>; this LLM's
        # reference chat is the harmony template (models/internvl/template.GPT_OSS)
        raise VlevalError(
            f"--backend openai: {target.card.name} is built on GPT-OSS, whose chat template (harmony) the "
            "openai backend does not send yet; use --backend hf"
        )
    kwargs = backend_kwargs(config, target, info, use_cuda) | backend_options(config)
    if config.backend_factory is not None:
        return config.backend_factory(target.path, kwargs)
    from vleval.models.backends.base import load_backend

    return load_backend(config.backend, target.path, **{k: v for k, v in kwargs.items() if v is not None})
