"""Launcher detection (torchrun, srun, single), GPU assignment and sharding."""

from __future__ import annotations

import pytest

from vleval.errors import VlevalError
from vleval.runner import dist
from vleval.runner.dist import assign_gpus, init_dist, shard


def test_single_process_without_launcher_variables():
    info = init_dist({})
    assert (info.rank, info.world_size, info.launcher) == (0, 1, "single")


def test_torchrun_variables_are_used_as_they_are():
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "4", "MASTER_PORT": "1234"}
    info = init_dist(env)
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == (3, 8, 3, 4)
    assert info.launcher == "torchrun" and info.master_port == "1234"


def test_slurm_sets_rank_world_and_master_like_the_source_document(monkeypatch):
    calls = []

    def fake_host(nodelist: str) -> str:
        calls.append(nodelist)
        return "node07"

    monkeypatch.setattr(dist, "_first_slurm_host", fake_host)
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "16",
        "SLURM_LOCALID": "1",
        "SLURM_NODELIST": "node[07-08]",
        "SLURM_NTASKS_PER_NODE": "8",
        "GPUS_PER_TASK": "1",
    }
    info = init_dist(env)
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == (5, 16, 1, 8)
    assert info.launcher == "slurm" and info.gpus_per_task == 1
    assert env["RANK"] == "5" and env["WORLD_SIZE"] == "16" and env["LOCAL_RANK"] == "1"
    assert env["MASTER_ADDR"] == "node07" and env["MASTER_PORT"] == "22110"
    assert calls == ["node[07-08]"]


def test_slurm_keeps_a_master_address_and_port_already_set(monkeypatch):
    monkeypatch.setattr(dist, "_first_slurm_host", lambda nodelist: pytest.fail("must not call scontrol"))
    env = {
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "2",
        "SLURM_NODELIST": "a",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "999",
    }
    info = init_dist(env)
    assert (info.master_addr, info.master_port) == ("10.0.0.1", "999")


def test_torchrun_wins_over_slurm_as_in_init_dist():
    env = {"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "7", "SLURM_NTASKS": "64"}
    assert init_dist(env).rank == 1 and init_dist(env).world_size == 2


def test_plain_nodelist_needs_no_scontrol(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert dist._first_slurm_host("vm") == "vm"


@pytest.mark.parametrize(
    ("n", "local_rank", "local_world", "per_task", "expected"),
    [
        (8, 3, 8, None, [3]),  # 8 one-GPU tasks per node
        (8, 0, 1, 8, list(range(8))),  # 38B/78B: one 8-GPU task per node
        (8, 1, 2, None, [4, 5, 6, 7]),  # torchrun 2 procs x 4 GPUs (reference "model splitting")
        (0, 0, 1, None, []),  # CPU
    ],
)
def test_assign_gpus(n, local_rank, local_world, per_task, expected):
    assert assign_gpus(n, local_rank, local_world, per_task) == expected


def test_assign_gpus_refuses_overlapping_layouts():
    with pytest.raises(VlevalError, match="only 8 are visible"):
        assign_gpus(8, 1, 2, 8)


def test_interleaved_shards_cover_everything_once():
    items = list(range(11))
    shards = [shard(items, r, 3) for r in range(3)]
    assert shards[0] == [0, 3, 6, 9]
    assert sorted(sum(shards, [])) == items
