"""torch.distributed helpers for ``torchrun``: process group set-up and samplers.

One process per device. Training batches are sharded with a DistributedSampler; validation uses
a sampler that never pads or duplicates samples, so the all-reduced confusion matrix equals that of
a single process on the same data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, Sampler


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (nothing otherwise).

    gloo on CPU, nccl on CUDA.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any: a decision taken from each process's own
    clock (the time limit) must be the same on all, or they stop at different epochs and hang.

    Example:
        >>> any_rank(True, DistInfo(), torch.device("cpu")), any_rank(False, DistInfo(), torch.device("cpu"))
        (True, False)
    """
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_floats(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Rank 0's ``values`` on every process: measurements that steer the run (the seconds per step of
    a time-budgeted stage) must be the same on all processes, or their learning rates drift apart.

    Example:
        >>> broadcast_floats([1.5, 2.0], DistInfo(), torch.device("cpu"))
        [1.5, 2.0]
    """
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return [float(v) for v in t.tolist()]


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class DistributedEpochSampler(DistributedSampler):
    """DistributedSampler whose items are ``(index, epoch)``, the keys segwise datasets use to seed
    per-sample augmentation independently of worker count."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        for i in super().__iter__():
            yield i, self.epoch


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th index starting at ``rank``: no padding, no duplicates (validation)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
