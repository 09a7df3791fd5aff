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

Rendezvous (``ProcessGroup``): rank 0 serves a TCPStore at ``MASTER_ADDR:MASTER_PORT`` (under torchrun
its agent serves it), every rank checks in, and only when all ``WORLD_SIZE`` ranks are there is the
torch process group made. A rank that never arrives (its process died before the start, its node cannot
reach ``MASTER_ADDR``) makes the others stop after ``min(--dist-timeout, 30 min)`` with one line naming
the missing ranks, instead of torch's wait of the full collective timeout (12 h by default) and its C++
warnings. Then every rank states what it is about to evaluate (checkpoint digests, benchmark files,
protocol, options, vleval version); a rank that differs from rank 0 (another checkpoint under the same
path on its node, another ``USE_COT``) stops the run on every rank with one line, before anything is
inferred: rank 0 keys every sample, so a disagreeing rank would otherwise store its answers under rank
0's keys.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from vleval.errors import VlevalError

DEFAULT_MASTER_PORT = "22110"  # source document's init_dist
# The longest the ranks wait for each other at the start: every task of a Slurm step or torchrun starts
# at once, and before the rendezvous each only imports and checks its files.
RENDEZVOUS_TIMEOUT_CAP_S = 1800.0
_POLL_S = 0.2
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

    gloo on CPU, nccl on GPU. The collective timeout (``timeout_s``, ``--dist-timeout``) is generous on
    purpose: rank 0 waits for slower ranks at the end of each benchmark's inference. The rendezvous
    before it waits at most ``min(timeout_s, RENDEZVOUS_TIMEOUT_CAP_S)``.
    """

    def __init__(self, info: DistInfo, *, use_cuda: bool, timeout_s: float) -> None:
        self.info = info
        self.host = socket.gethostname()
        self._dist = None
        self._store = None
        if not info.distributed:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            self._store = rendezvous(info, min(timeout_s, RENDEZVOUS_TIMEOUT_CAP_S))
            self._store.set_timeout(timedelta(seconds=timeout_s))  # as env:// would have it from here on
            dist.init_process_group(
                backend="nccl" if use_cuda else "gloo",
                store=self._store,
                rank=info.rank,
                world_size=info.world_size,
                timeout=timedelta(seconds=timeout_s),
            )
        self._dist = dist
        print(
            f"vleval: rank {info.rank} of {info.world_size} on {self.host} (node-local rank "
            f"{info.local_rank} of {info.local_world_size}), rendezvous at {_where(info)}",
            file=sys.stderr,
            flush=True,
        )

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

    def require_agreement(self, facts: Mapping[str, str]) -> None:
        """Stop on every rank, with the same one line, when a rank's ``facts`` differ from rank 0's."""
        if self._dist is None:
            return
        gathered: list[Any] = [None] * self.info.world_size
        self._dist.all_gather_object(gathered, (self.host, dict(facts)))
        problem = disagreement(gathered)
        if problem:
            raise VlevalError(problem)

    def close(self) -> None:
        if self._dist is not None and self._dist.is_initialized():
            self._dist.destroy_process_group()
        self._dist = None
        self._store = None


def disagreement(gathered: Sequence[tuple[str, Mapping[str, str]]]) -> str | None:
    """The first fact on which a rank differs from rank 0, as one line; ``gathered[r]`` is rank r's
    (host, facts)."""
    host0, facts0 = gathered[0]
    for rank, (host, facts) in enumerate(gathered[1:], start=1):
        for key in [*facts0, *(k for k in facts if k not in facts0)]:
            if facts0.get(key) != facts.get(key):
                return (
                    f"the {len(gathered)} tasks of this run do not agree on {key}: rank 0 on {host0} has "
                    f"{facts0.get(key, 'nothing')}, rank {rank} on {host} has {facts.get(key, 'nothing')}. "
                    "Every task must see the same checkpoint, benchmark files and options; nothing was "
                    "inferred."
                )
    return None


def quick_digest(path: os.PathLike | str, sample: int = 1 << 16) -> str:
    """Cheap identity of a large file: its size and sha256 over its first, middle and last ``sample``
    bytes (checkpoint shards, benchmark files; a fine-tuned checkpoint differs everywhere)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        h.update(str(size).encode())
        for offset in sorted({0, max(0, size // 2 - sample // 2), max(0, size - sample)}):
            fh.seek(offset)
            h.update(fh.read(sample))
    return f"{size} bytes, sha256 sample {h.hexdigest()[:16]}"


def _where(info: DistInfo) -> str:
    return f"{info.master_addr or '127.0.0.1'}:{info.master_port or DEFAULT_MASTER_PORT}"


def rendezvous(info: DistInfo, timeout_s: float) -> Any:
    """The TCPStore every rank of the run is connected to, once all ``info.world_size`` ranks checked
    in; a ``VlevalError`` (one line) when they did not within ``timeout_s``."""
    import torch.distributed as dist

    addr, port = info.master_addr or "127.0.0.1", int(info.master_port or DEFAULT_MASTER_PORT)
    where, world = _where(info), info.world_size
    # torchrun's agent already serves the store at MASTER_PORT (torch.distributed.elastic)
    serve = info.rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    deadline = time.monotonic() + timeout_s
    wait = timedelta(seconds=max(timeout_s, 1.0))
    try:
        if serve:
            store = dist.TCPStore(addr, port, world, True, wait, wait_for_workers=False)
        else:
            # torch's client retries print C++ warnings with stack traces: connect quietly first
            if not _port_open(addr, port, deadline):
                raise VlevalError(
                    f"rank {info.rank} on {socket.gethostname()}: nobody answered at {where} (MASTER_ADDR:"
                    f"MASTER_PORT) within {timeout_s:.0f} s: rank 0 died before the start, or this node "
                    "cannot reach it (--dist-timeout sets the wait)."
                )
            store = dist.TCPStore(addr, port, world, False, wait)
    except dist.DistError as exc:
        raise VlevalError(
            f"rank {info.rank} on {socket.gethostname()}: cannot {'serve' if serve else 'reach'} the "
            f"rendezvous at {where}: {str(exc).splitlines()[0]}"
            + (" (is MASTER_PORT in use? set another)" if serve else "")
        ) from None
    prefix = f"vleval/rendezvous/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
    try:
        store.set(f"{prefix}rank/{info.rank}", socket.gethostname())
        store.add(f"{prefix}joined", 1)
        while True:
            if store.check([f"{prefix}failed"]):
                store.add(f"{prefix}told", 1)
                raise VlevalError(store.get(f"{prefix}failed").decode())
            joined = store.add(f"{prefix}joined", 0)
            if joined >= world:
                return store
            # rank 0 speaks for all; the others give it some seconds more before speaking for themselves
            if time.monotonic() > deadline + (0 if info.rank == 0 else 30):
                break
            time.sleep(_POLL_S)
    except dist.DistError as exc:
        raise VlevalError(
            f"rank {info.rank} on {socket.gethostname()}: lost the rendezvous at {where} "
            f"(rank 0 stopped?): {str(exc).splitlines()[0]}"
        ) from None
    try:
        missing = [r for r in range(world) if not store.check([f"{prefix}rank/{r}"])]
        shown = ", ".join(map(str, missing[:16])) + (", ..." if len(missing) > 16 else "")
    except dist.DistError:  # rank 0 and its store are gone
        shown = "unknown"
    message = (
        f"only {joined} of {world} tasks reached the rendezvous at {where} within {timeout_s:.0f} s "
        f"(--dist-timeout): rank(s) {shown} never arrived; their process died before the start, hangs, or "
        "cannot reach MASTER_ADDR. Nothing was inferred."
    )
    if info.rank == 0:
        store.set(f"{prefix}failed", message)
        # keep serving until the ranks that are here have read it (they stop with the same line)
        until = time.monotonic() + 10
        while store.add(f"{prefix}told", 0) < joined - 1 and time.monotonic() < until:
            time.sleep(_POLL_S)
    raise VlevalError(message)


def _port_open(addr: str, port: int, deadline: float) -> bool:
    while True:
        try:
            with socket.create_connection((addr, port), timeout=2):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_S)
