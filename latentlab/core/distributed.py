"""Training in several processes with PyTorch's own machinery: torchrun starts them, DDP syncs them.

``torchrun --nproc-per-node N -m latentlab train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK and
the rendezvous address for each process; ``join_from_environment`` joins them into one
process group (NCCL on GPUs, gloo on CPUs) and the trainer wraps its model in
``DistributedDataParallel``. Every process draws the same shuffled order and the same noise
for the whole global batch (one generator, one seed), and trains on its contiguous shard
of it, so N processes with global batch B take the steps one process with batch B takes.

A process that dies or stops answering ends the others at their next collective, within
the group's timeout, with one sentence (``PeerLost``) instead of a hang.
"""

from __future__ import annotations

import gc
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from .errors import LatentlabError

if TYPE_CHECKING:  # torch is imported where it is used: the CLI reads this module's defaults at start-up
    import torch

DEFAULT_TIMEOUT_S = 600.0  # rank 0 evaluates and saves alone at each epoch's end while the others wait


class PeerLost(LatentlabError):
    """Another training process died, or the group could not talk to it within the timeout."""


@dataclass
class Group:
    """This process's place in a torchrun group."""

    rank: int
    world: int
    local_rank: int
    backend: str
    agreed: bool = field(default=False)  # past the start, where every process said it is ready

    @property
    def is_main(self) -> bool:
        """The process that evaluates, saves and speaks for the run."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This process's contiguous share of a global batch of ``n`` items (shares differ by one at most)."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Sum (or take the max of) ``tensor`` over the group, in place."""
        import torch.distributed as dist

        reduce_op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op]
        try:
            dist.all_reduce(tensor, op=reduce_op)
        except RuntimeError as exc:
            if not is_collective_failure(exc):
                raise
            raise self.lost(exc) from None
        return tensor

    @property
    def device(self) -> torch.device:
        """Where this group's collectives take their tensors: NCCL's on the GPU, gloo's anywhere."""
        import torch

        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def agree(self, ready: bool) -> bool:
        """Whether every process is ready to train; each calls this once, after its set-up or its failure."""
        import torch

        self.agreed = True
        flag = torch.tensor([1.0 if ready else 0.0], device=self.device)
        return bool(self.all_reduce(flag, "min").item() > 0)

    def lost(self, exc: BaseException) -> PeerLost:
        reason = _reason(exc)
        return PeerLost(
            f"Training process {self.rank} of {self.world} lost the others ({reason}): one of them stopped or "
            f"could not be reached in time, so this one stops too; resume the run from its last checkpoint "
            f"with --resume."
        )

    def close(self, together: bool = True) -> None:
        """Leave the group. After a run every process finished (``together``), first wait until all are
        here: one that tore its connections down while another still saved made gloo abort its process."""
        import torch.distributed as dist

        if not dist.is_initialized():
            return
        if together:
            try:
                dist.barrier()
            except RuntimeError:
                pass  # a peer gone after all: leave anyway
        dist.destroy_process_group()
        # Whatever still holds the group (a DDP reducer in a cycle) lets go now, while the interpreter lives:
        # a gloo group destroyed during the interpreter's own teardown aborts the process.
        gc.collect()


def _reason(exc: BaseException) -> str:
    """The gist of a backend's error: its first sentence, without the source location gloo puts first."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)  # "[.../pair.cc:545] Read error ...: Connection reset by peer."
    return text.split(". ")[0].rstrip(".")[:160]


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed (a peer gone, a timeout), not a bug of the step itself."""
    import torch.distributed as dist

    text = str(exc)
    return isinstance(exc, dist.DistError) or any(
        mark in text for mark in ("gloo", "NCCL", "Connection reset", "Connection closed", "timed out", "c10d"))


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def join_from_environment(device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> Group | None:
    """Join the group torchrun started, or None when this process trains alone.

    NCCL when training on CUDA (each process on the GPU of its LOCAL_RANK), gloo otherwise.
    """
    if not launched_by_torchrun():
        return None
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)  # "cuda" now means this process's own GPU
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as exc:
        reason = _reason(exc)
        raise PeerLost(f"Training process {rank} of {world} could not join the others ({reason}); check "
                       f"torchrun's --rdzv-endpoint and that every machine can reach it.") from None
    return Group(rank, world, local_rank, backend)
