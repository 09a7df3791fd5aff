"""Distributed execution: who am I (rank), how many are we (world size), which GPUs are mine.

Launchers handled, with nothing to patch (source document ``internvl2_5_evaluation.md``, ``init_dist``;
``docs/running.md``):

- ``torchrun`` (or any env:// launcher): ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``.
- Slurm ``srun``: ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NTASKS_PER_NODE``;
  ``MASTER_ADDR`` = first host of ``SLURM_NODELIST`` (``scontrol show hostname``), ``MASTER_PORT`` 22110
  unless set. The source document's patch sets ``LOCAL_RANK = SLURM_PROCID % cuda.device_count()``, which
  is the node-local rank only with one task per GPU on every node (and divides by zero without GPUs);
  ``SLURM_LOCALID`` is the node-local rank Slurm itself reports, equal to it in that layout.
- Anything else: one process.

This module is the edge that reads the launcher's environment; everything below it gets a ``DistInfo``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from vleval.errors import VlevalError

DEFAULT_MASTER_PORT = "22110"  # source document's init_dist
T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launcher: str = "single"  # "single" | "torchrun" | "slurm"
    master_addr: str | None = None
    master_port: str | None = None
    gpus_per_task: int | None = None  # GPUS_PER_TASK from the job script, if any

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _first_slurm_host(nodelist: str) -> str:
    """First host name of a Slurm node list (``vm``, ``node[01-04]``) as ``scontrol`` expands it."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "hostname", nodelist],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    hosts = out.split()
    if hosts:
        return hosts[0]
    if "[" not in nodelist:  # a plain host name (or list) needs no scontrol
        return nodelist.split(",")[0]
    raise VlevalError(
        f"cannot expand SLURM_NODELIST={nodelist!r}: `scontrol show hostname` failed. Set MASTER_ADDR to "
        "the first node's address in the job script."
    )


def init_dist(env: MutableMapping[str, str] | None = None) -> DistInfo:
    """Read the launcher's variables; under Slurm also export RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* into
    ``env`` (``os.environ`` by default) as the source document's ``init_dist`` does, so torch's env://
    rendezvous finds them."""
    env = os.environ if env is None else env
    gpus_per_task = int(env["GPUS_PER_TASK"]) if env.get("GPUS_PER_TASK") else None
    if "RANK" in env and "WORLD_SIZE" in env:
        world = int(env["WORLD_SIZE"])
        return DistInfo(
            rank=int(env["RANK"]),
            world_size=world,
            local_rank=int(env.get("LOCAL_RANK", "0")),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")),
            launcher="torchrun" if world > 1 else "single",
            master_addr=env.get("MASTER_ADDR"),
            master_port=env.get("MASTER_PORT"),
            gpus_per_task=gpus_per_task,
        )
    if "SLURM_PROCID" in env:
        rank = int(env["SLURM_PROCID"])
        world = int(env.get("SLURM_NTASKS", "1"))
        local_rank = int(env.get("SLURM_LOCALID", "0"))
        # SLURM_NTASKS_PER_NODE is only set with --ntasks-per-node; "2(x3)" forms -> leading number.
        per_node = env.get("SLURM_NTASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or str(world)
        local_world = int(per_node.split("(")[0].split(",")[0])
        env["RANK"] = str(rank)
        env["WORLD_SIZE"] = str(world)
        env["LOCAL_RANK"] = str(local_rank)
        env["LOCAL_WORLD_SIZE"] = str(local_world)
        if "MASTER_ADDR" not in env:
            nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_NODELIST") or "localhost"
            env["MASTER_ADDR"] = _first_slurm_host(nodelist)
        env.setdefault("MASTER_PORT", DEFAULT_MASTER_PORT)
        return DistInfo(
            rank=rank,
            world_size=world,
            local_rank=local_rank,
            local_world_size=local_world,
            launcher="slurm" if world > 1 else "single",
            master_addr=env["MASTER_ADDR"],
            master_port=env["MASTER_PORT"],
            gpus_per_task=gpus_per_task,
        )
    return DistInfo(gpus_per_task=gpus_per_task)


def assign_gpus(
    n_visible: int, local_rank: int, local_world_size: int, gpus_per_task: int | None
) -> list[int]:
    """Indices (among the visible GPUs) this process uses: ``k`` consecutive GPUs starting at
    ``local_rank * k``, with ``k = gpus_per_task`` or ``n_visible // local_world_size`` (the reference's
    split, running.md §3 step 1 and §4.2). Empty list: run on CPU."""
    if n_visible <= 0:
        return []
    per_task = gpus_per_task or max(1, n_visible // max(1, local_world_size))
    start = local_rank * per_task
    if start + per_task > n_visible:
        raise VlevalError(
            f"local rank {local_rank} needs GPUs {start}..{start + per_task - 1} but only {n_visible} are "
            f"visible; lower the tasks per node or GPUS_PER_TASK ({per_task})."
        )
    return list(range(start, start + per_task))


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Interleaved sharding as the reference (rows r, r+W, r+2W, ...): balanced when costs vary by row."""
    return list(items[rank::world_size])


class ProcessGroup:
    """The torch.distributed group for one run (a no-op when there is one process).

    gloo on CPU, nccl on GPU. The timeout is generous on purpose: rank 0 waits for slower ranks at
    the end of each benchmark's inference.
    """

    def __init__(self, info: DistInfo, *, use_cuda: bool, timeout_s: float) -> None:
        self.info = info
        self._dist = None
        if not info.distributed:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(
                backend="nccl" if use_cuda else "gloo",
                init_method="env://",
                rank=info.rank,
                world_size=info.world_size,
                timeout=timedelta(seconds=timeout_s),
            )
        self._dist = dist

    def barrier(self) -> None:
        if self._dist is not None:
            self._dist.barrier()

    def broadcast(self, obj: T | None) -> T:
        """Rank 0's ``obj`` on every rank (picklable objects)."""
        if self._dist is None:
            return obj  # type: ignore[return-value]
        box = [obj]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    def close(self) -> None:
        if self._dist is not None and self._dist.is_initialized():
            self._dist.destroy_process_group()
        self._dist = None
