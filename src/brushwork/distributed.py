"""Several processes, one job: PyTorch's own launcher (``torchrun``) and ``torch.distributed``.

``torchrun --nproc-per-node N -m brushwork train ...`` (or ``stylize``) starts N copies of the
command, each with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in its environment. This module reads them; nothing here launches processes or
invents a pool: torchrun starts, watches and stops the workers, ``torch.distributed`` (gloo on
the CPU, NCCL between GPUs) carries the gradients and the progress.

The rules every caller follows: each rank works on its own shard (``shard``: every N-th item,
so the shares differ by at most one and rank 0's share comes first); rank 0 alone writes shared
files and reports (``Context.is_main``); every rank takes part in every collective call, in the
same order, or the job hangs.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .errors import BrushworkError

T = TypeVar("T")

#: How long a collective call waits for the other ranks (ours): a training iteration or a
#: 4096-px painting on a slow CPU takes minutes, and rank 0 writes checkpoints meanwhile.
TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class Context:
    """Where this process stands in the job: rank ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs, previews and reports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched() -> Context:
    """The rank and world size torchrun gave this process (rank 0 of 1 without torchrun)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as error:
        raise BrushworkError(f"RANK / WORLD_SIZE / LOCAL_RANK must be numbers ({error})") \
            from None
    if world < 1 or not 0 <= rank < world:
        raise BrushworkError(f"rank {rank} of world size {world} is impossible")
    return Context(rank, world, local)


def rank_label() -> str:
    """'rank N: ' for a message from a non-zero torchrun rank, else ''; never raises (it is
    used while printing an error)."""
    rank = os.environ.get("RANK", "0")
    return f"rank {rank}: " if rank not in ("", "0") else ""


def reports() -> bool:
    """Whether this process should print what all processes would print alike (rank 0)."""
    return launched().is_main


def local_device(device: torch.device) -> torch.device:
    """The GPU of this process on a multi-GPU node (``LOCAL_RANK``), or ``device`` unchanged.

    Each process owns one GPU, so "cuda" means ``cuda:LOCAL_RANK``; it is also made the
    current device, which NCCL needs before its first collective call.
    """
    if device.type != "cuda" or device.index is not None:
        return device
    local = launched().local_rank
    if local >= torch.cuda.device_count():
        raise BrushworkError(f"local rank {local} has no GPU: this node has "
                             f"{torch.cuda.device_count()}; start at most that many processes "
                             "per node")
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


@contextlib.contextmanager
def session(backend: str = "gloo") -> Iterator[Context]:
    """Join the job torchrun started (a process group over ``backend``) for the block.

    Without torchrun (or with one process) this is a no-op yielding rank 0 of 1, so every
    caller runs the same code in one process. A group that is already open is reused and
    left open; one opened here is closed on the way out.
    """
    context = launched()
    if not context.distributed or dist.is_initialized():
        yield context
        return
    if not dist.is_available():
        raise BrushworkError("this PyTorch build has no torch.distributed")
    try:
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    except (RuntimeError, ValueError) as error:
        raise BrushworkError(f"could not join the torchrun job over {backend}: {error}") \
            from None
    try:
        yield context
    finally:
        dist.destroy_process_group()


def in_job(backend: str | Callable[..., str]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function to run inside ``session``: the torchrun job, if any, for its call.

    ``backend`` is a name, or a function of the call's arguments that returns one (training
    picks NCCL or gloo from its ``device``). A decorator, so that a long function (the trainer,
    the stylise command) keeps its shape and reads top to bottom.
    """

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            name = backend if isinstance(backend, str) else backend(*args, **kwargs)
            with session(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo on the CPU (NCCL carries only CUDA tensors)."""
    return "nccl" if device.type == "cuda" else "gloo"


def shard(items: Sequence[T], context: Context) -> list[T]:
    """This rank's share of ``items``: every ``world_size``-th one, starting at ``rank``.

    Interleaved rather than in blocks, so the shares differ by at most one item and, when all
    ranks go at the same pace, the items finish roughly in their original order.
    """
    return list(items[context.rank :: context.world_size])


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``values`` (a float tensor) over every rank: one all-reduce.

    Also how ranks agree on decisions: a stop flag summed over ranks is non-zero on every
    rank when any rank was asked to stop.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    total = values.clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def barrier() -> None:
    """Wait for every rank (a no-op in one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def gather_to_main(value: T) -> list[T] | None:
    """Every rank's ``value`` (JSON-like objects) on rank 0, in rank order; None elsewhere."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value]
    gathered: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def for_each_sharded(
    items: Sequence[T], work: Callable[[T], Any], report: Callable[[int, Any], None],
    context: Context,
) -> None:
    """Run ``work`` on this rank's share of ``items``; rank 0 calls ``report(i, result)`` for
    every item, in the items' order, as results arrive.

    The ranks go in rounds: in round r, rank k works on item r * N + k, then rank 0 gathers
    the round's results (small JSON-like records) and reports them. One process is the same
    loop with N = 1, so its output is the output of any N. The cost of the rounds: a rank
    that finishes its item early waits for the round's slowest.
    """
    world = context.world_size
    for start in range(0, len(items), world):
        index = start + context.rank
        result = work(items[index]) if index < len(items) else None
        gathered = gather_to_main(result)
        if gathered is None:
            continue
        for offset, value in enumerate(gathered):
            if start + offset < len(items):
                report(start + offset, value)


def launch_workers(argv: Sequence[str], workers: int) -> int:
    """``python -m brushwork ARGV`` in ``workers`` processes on this machine, started by
    PyTorch's elastic launcher (what ``torchrun --standalone`` runs); their exit status.

    ``brushwork stylize --workers N`` comes here: the same job as torchrun, without torchrun's
    own traceback and failure report when a worker exits non-zero (the worker has already
    said why in one line). Each worker gets an equal share of the cores through
    ``OMP_NUM_THREADS`` unless it is set.
    """
    import logging
    import uuid

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in ("torch.distributed.elastic", "torch.distributed.launcher"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=workers, run_id=f"brushwork-{uuid.uuid4()}",
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
    )
    try:
        elastic_launch(config, sys.executable)("-m", "brushwork", *argv)
    except ChildFailedError:
        return 1
    return 0
