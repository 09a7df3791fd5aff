"""Which device(s) a rank's model goes to (no GPU needed: device counts are simulated)."""

from __future__ import annotations

import pytest
import torch

from vleval.models.registry import get_model
from vleval.runner.config import RunConfig
from vleval.runner.dist import DistInfo
from vleval.runner.placement import backend_kwargs
from vleval.runner.targets import ModelTarget


def _target(name: str) -> ModelTarget:
    from pathlib import Path

    return ModelTarget(get_model(name), Path("/nonexistent") / name, False)


@pytest.fixture
def eight_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_cpu_when_no_gpu():
    config = RunConfig(models=["m"], datasets=["d"])
    assert backend_kwargs(config, _target("InternVL2_5-1B"), DistInfo(), use_cuda=False)["device"] == "cpu"


def test_one_gpu_per_task_follows_the_local_rank(eight_gpus):
    config = RunConfig(models=["m"], datasets=["d"])
    info = DistInfo(
        rank=11, world_size=64, local_rank=3, local_world_size=8, launcher="slurm", gpus_per_task=1
    )
    kwargs = backend_kwargs(config, _target("InternVL2_5-8B"), info, use_cuda=True)
    assert kwargs["device"] == "cuda:3" and "device_map" not in kwargs


def test_an_eight_gpu_task_splits_a_78b_with_the_reference_layout(eight_gpus):
    config = RunConfig(models=["m"], datasets=["d"])
    info = DistInfo(rank=1, world_size=8, local_rank=0, local_world_size=1, launcher="slurm", gpus_per_task=8)
    card = get_model("InternVL2_5-78B")
    kwargs = backend_kwargs(config, _target(card.name), info, use_cuda=True)
    device_map = kwargs["device_map"]
    assert device_map["vision_model"] == 0 and device_map["language_model.model.layers.79"] == 0
    assert (
        device_map["language_model.model.layers.6"] == 1 and device_map["language_model.model.layers.78"] == 7
    )
    assert set(device_map.values()) == set(range(8))


def test_two_processes_share_a_node_of_eight_for_a_large_model(eight_gpus):
    # torchrun --nproc-per-node=2 on 8 GPUs: 4 GPUs each (the reference's "model splitting")
    config = RunConfig(models=["m"], datasets=["d"])
    info = DistInfo(rank=1, world_size=2, local_rank=1, local_world_size=2, launcher="torchrun")
    card = get_model("InternVL2_5-38B")
    device_map = backend_kwargs(config, _target(card.name), info, use_cuda=True)["device_map"]
    assert set(device_map.values()) == {4, 5, 6, 7}


def test_an_eight_gpu_task_splits_an_hf_checkpoint_as_its_original_twin(eight_gpus):
    """InternVL3-78B-hf (transformers' module names) on 8 GPUs: each block on the GPU that the reference's
    split gives the same block of InternVL3-78B."""
    config = RunConfig(models=["m"], datasets=["d"])
    info = DistInfo(rank=1, world_size=8, local_rank=0, local_world_size=1, launcher="slurm", gpus_per_task=8)
    hf = backend_kwargs(config, _target("InternVL3-78B-hf"), info, use_cuda=True)["device_map"]
    original = backend_kwargs(config, _target("InternVL3-78B"), info, use_cuda=True)["device_map"]
    assert hf["model.vision_tower"] == 0 and hf["model.language_model.layers.79"] == 0
    assert hf["model.language_model.layers.6"] == 1 and hf["model.language_model.layers.78"] == 7
    assert (hf["model.multi_modal_projector"], hf["lm_head"]) == (
        original["mlp1"],
        original["language_model.lm_head"],
    )
    layers = {k.removeprefix("model.language_model.layers."): v for k, v in hf.items() if ".layers." in k}
    assert layers == {
        k.removeprefix("language_model.model.layers."): v for k, v in original.items() if ".layers." in k
    }
    assert len(hf) == len(original) and "vision_model" not in hf


def test_two_processes_share_a_node_of_eight_for_a_large_hf_checkpoint(eight_gpus):
    config = RunConfig(models=["m"], datasets=["d"])
    info = DistInfo(rank=1, world_size=2, local_rank=1, local_world_size=2, launcher="torchrun")
    device_map = backend_kwargs(config, _target("InternVL3_5-241B-A28B-HF"), info, use_cuda=True)[
        "device_map"
    ]
    assert set(device_map.values()) == {4, 5, 6, 7}
    assert device_map["model.vision_tower"] == device_map["model.language_model.layers.93"] == 4
