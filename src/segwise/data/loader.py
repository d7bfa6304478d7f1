"""DataLoaders whose augmentation does not depend on the number of workers.

:class:`EpochSampler` yields ``(index, epoch)`` keys, so each sample's random generator is a
function of ``(seed, epoch, index)`` even with persistent workers, which keep their own copy of
the dataset and never see ``dataset.set_epoch``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from segwise.errors import InputError


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, epoch)``: all indices, shuffled by ``(seed, epoch)`` when ``shuffle``.

    Call :meth:`set_epoch` before each epoch.

    Example:
        >>> s = EpochSampler(4, shuffle=False)
        >>> s.set_epoch(2)
        >>> list(s)
        [(0, 2), (1, 2), (2, 2), (3, 2)]
    """

    def __init__(self, data: Sized | int, *, shuffle: bool = True, seed: int = 0) -> None:
        self.n = data if isinstance(data, int) else len(data)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = (
            np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n)
            if self.shuffle
            else range(self.n)
        )
        return iter([(int(i), self.epoch) for i in order])


def _worker_init(_: int) -> None:
    # Workers parallelise across samples; threads inside each one would only contend for cores.
    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)


def default_num_workers() -> int:
    """Loader workers: one per core beyond the one the training step uses, at most 8 (0 on 1-2 cores).

    On a 2-core machine the training step needs both cores and the cached loader keeps up in the main
    process (docs/benchmarks.md), so workers would only take cores from the step.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cores <= 2 else min(cores - 1, 8)


def build_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int | None = None,
    seed: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent_workers: bool = True,
) -> DataLoader:
    """A DataLoader over ``dataset`` with an :class:`EpochSampler` (reach it as ``loader.sampler``).

    Args:
        dataset: A segwise dataset (accepts ``(index, epoch)`` keys).
        batch_size: Samples per batch.
        shuffle: Shuffle each epoch (seeded by ``(seed, epoch)``).
        num_workers: Worker processes; ``None`` uses :func:`default_num_workers`.
        seed: Shuffling seed (augmentation uses the dataset's own seed).
        drop_last: Drop a last, smaller batch.
        pin_memory: Pin batches for faster host-to-GPU copies.
        persistent_workers: Keep workers (and their warm state) across epochs.

    Call ``loader.sampler.set_epoch(epoch)`` (or :func:`set_epoch`) before each epoch.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1; got {batch_size}.")
    workers = default_num_workers() if num_workers is None else int(num_workers)
    if workers < 0:
        raise InputError(f"num_workers must be >= 0; got {workers}.")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(dataset, shuffle=shuffle, seed=seed),  # type: ignore[arg-type]
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and workers > 0,
        worker_init_fn=_worker_init if workers > 0 else None,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Set the epoch of a loader from :func:`build_loader` (its shuffling and augmentation)."""
    sampler = loader.sampler
    if not isinstance(sampler, EpochSampler):
        raise InputError("set_epoch needs a loader from segwise.data.build_loader (with an EpochSampler).")
    sampler.set_epoch(epoch)
