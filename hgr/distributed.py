"""Data-parallel training under torchrun: the processes, each one's part of a global batch, and the gather that
keeps the in-batch negatives of Eq. 14 those of the whole batch.

    torchrun --nproc-per-node 2 -m hgr train --collection C --out model.pt      # docs/scale.md, section 5

`--batch-size` is the global batch. Every process draws the same shuffled order, encodes its contiguous part of
each batch, and gathers every process's video and caption embeddings: the hardest negatives are sought in the
whole batch and every process computes the loss one process would compute on it. Only a process's own rows
carry gradients there, and DDP averages the processes' gradients, so each backpropagates `size` x the loss: the
average of those shares is the one-process gradient.
"""
from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from hgr.errors import HGRError

# How long a process waits at a collective before it fails. The others wait while rank 0 validates and writes the
# checkpoints, which can outlast the backends' defaults (NCCL's is 10 minutes).
WAIT = timedelta(hours=1)

Embedding = TypeVar("Embedding")


@dataclass(frozen=True)
class World:
    """This process among those of a run: one process (the default) or torchrun's."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0       # this process's GPU on its machine

    @property
    def main(self) -> bool:
        """The process that validates and writes checkpoints, logs and progress bars."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """This process's device: on GPUs, the one torchrun gave it (LOCAL_RANK)."""
        if device.type == "cuda" and self.size > 1:
            return torch.device("cuda", self.local_rank)
        return device


def current() -> World:
    """The run this process belongs to: torchrun's when a process group is up, else one process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return World()


@contextmanager
def launched(device: torch.device) -> Iterator[World]:
    """Under torchrun with several processes (WORLD_SIZE > 1), the process group for the block (NCCL on GPUs, gloo
    on CPUs), destroyed after it; otherwise one process and nothing started."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or dist.is_initialized():
        yield current()
        return
    missing = [name for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise HGRError(f"WORLD_SIZE is {size} but {', '.join(missing)} not set: start the processes with torchrun "
                       "(torchrun --nproc-per-node N -m hgr train ...), or unset WORLD_SIZE for one process")
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise HGRError(f"process {local_rank} of this machine has no GPU of its own ({torch.cuda.device_count()} "
                           "visible): give torchrun --nproc-per-node at most the number of GPUs, or --device cpu")
        torch.cuda.set_device(local_rank)
    # Destroying the group must join its worker threads while the interpreter is still up; otherwise a gloo worker
    # still releasing a finished broadcast's tensors takes the GIL during shutdown and aborts the process ("terminate
    # called without an active exception") after a run that had succeeded. Two things keep the group alive past
    # destroy (torch 2.13): torch._dynamo imported after the group is up (DistributedDataParallel imports it) holds a
    # reference, so it is imported first; a DistributedDataParallel left in a reference cycle would too, so it is
    # collected first.
    importlib.import_module("torch._dynamo")

    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=WAIT)   # env:// from torchrun
    try:
        yield current()
    finally:
        gc.collect()
        dist.destroy_process_group()


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` when there are several processes (it starts every process from
    rank 0's weights), the model itself otherwise."""
    if world.size == 1:
        return model
    cfg = model.cfg
    # ablations leave parameters out of the loss (global matching: the attention pools; no roles: W_r)
    unused = cfg.matching == "global" or not cfg.role_aware
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=unused)


def epoch_seed(seed: int, epoch: int, world: World) -> int:
    """Dropout's seed for one process and epoch: the processes draw different masks, and a resumed run draws the
    ones it would have drawn."""
    return int(np.random.SeedSequence([seed, epoch, world.rank]).generate_state(1)[0])


def from_main(world: World, value: Any) -> Any:
    """`value` as the main process has it, in every process (a picklable object)."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_same(world: World, value: Any, what: str, fix: str) -> None:
    """A clear error in every process when the processes disagree about `value` (e.g. the epoch they resume after)."""
    if world.size == 1:
        return
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        seen = ", ".join(f"process {rank}: {v!r}" for rank, v in enumerate(values))
        raise HGRError(f"the processes disagree about {what} ({seen}); {fix}")


@dataclass(frozen=True)
class BatchPart:
    """This process's contiguous rows of a global batch, and the gather that joins every process's rows.

    A process whose part is empty (a last batch shorter than the number of processes) still encodes one row and
    drops it, so that every process takes part in each collective and in DDP's gradient reduction.
    """
    sizes: tuple[int, ...]             # rows of each process, in rank order (they sum to the global batch)
    rank: int
    negative_sizes: tuple[int, ...]    # extra hard negatives of each process's rows

    @classmethod
    def of(cls, batch_size: int, world: World, negative_rows: Sequence[int] = ()) -> BatchPart:
        base, extra = divmod(batch_size, world.size)
        sizes = tuple(base + (rank < extra) for rank in range(world.size))
        starts = np.cumsum((0,) + sizes)
        negative_sizes = tuple(sum(int(starts[r] <= i < starts[r + 1]) for i in negative_rows)
                               for r in range(world.size))
        return cls(sizes, world.rank, negative_sizes)

    @property
    def rows(self) -> range:
        """This process's rows of the global batch."""
        start = sum(self.sizes[:self.rank])
        return range(start, start + self.sizes[self.rank])

    def gather(self, embedding: Embedding) -> Embedding:
        """The global batch's VideoEmbedding / TextEmbedding from this process's: each tensor field (and list of
        tensors) joined along the batch axis in rank order, shorter axes zero padded (padded frames and words are
        masked). This process's rows keep their gradients; the others' are values."""
        names = [f.name for f in fields(embedding)]
        values = {name: getattr(embedding, name) for name in names}
        tensors = [t for v in values.values() for t in (v if isinstance(v, list) else [v])]
        joined = iter(_gather_rows(tensors, self.sizes, self.rank))
        return replace(embedding, **{name: [next(joined) for _ in v] if isinstance(v, list) else next(joined)
                                     for name, v in values.items()})

    def gather_negatives(self, hinges: torch.Tensor) -> torch.Tensor:
        """[k] hinges of this process's hard negatives -> [K] every process's (no collective when there are none)."""
        if not any(self.negative_sizes):
            return hinges
        return _gather_rows([hinges], self.negative_sizes, self.rank)[0]


def _gather_rows(tensors: list[torch.Tensor], sizes: Sequence[int], rank: int) -> list[torch.Tensor]:
    """Each tensor [>= sizes[rank], ...] -> its first rows of every process, [sum(sizes), ...]; the axes after the
    first are zero padded to the longest across processes. This process's rows keep their autograd history."""
    local = [t[:sizes[rank]] for t in tensors]
    device = local[0].device
    dims = torch.tensor([0] + [d for t in local for d in t.shape[1:]], dtype=torch.int64, device=device)
    every = [torch.empty_like(dims) for _ in sizes]
    dist.all_gather(every, dims)
    widest = torch.stack(every).amax(0).tolist()[1:]
    out, at = [], 0
    for t in local:
        shape = [max(sizes), *widest[at:at + t.dim() - 1]]          # [rows, ...] the same in every process
        at += t.dim() - 1
        wire_dtype = torch.uint8 if t.dtype == torch.bool else t.dtype   # gloo and NCCL carry bytes, not bools
        sent = _pad(t.detach().to(wire_dtype), shape)
        pieces = [torch.empty_like(sent) for _ in sizes]
        dist.all_gather(pieces, sent.contiguous())
        pieces[rank] = _pad(t.to(wire_dtype), [t.shape[0], *shape[1:]])   # ours, with its gradient
        joined = torch.cat([piece[:n] for piece, n in zip(pieces, sizes)])
        out.append(joined.bool() if t.dtype == torch.bool else joined)
    return out


def _pad(t: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Zeros after the end of each axis of `t` up to `shape` (differentiable)."""
    widths = [w for size, want in zip(reversed(t.shape), reversed(shape)) for w in (0, want - size)]
    return F.pad(t, widths) if any(widths) else t
