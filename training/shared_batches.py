"""Batch buffers a loader worker reuses: shared memory the training process hands back.

A ``DataLoader`` worker sends each batch to the training process in shared memory. PyTorch's
own collate allocates a fresh segment for every batch, so every page of every batch is new
memory: zero-filled by the kernel, faulted in by the worker that writes it and again by the
training process that reads it. On a VM whose host backs guest memory only when it is first
touched, that is most of a worker's system time: 1.39 ms a sample for batches of 512² RGB tiles
(the loader benchmark's device path, where workers ship whole tiles; 0.0115 ms with reused
buffers, and the worker's CPU per sample 0.59 -> 0.92 of a bare decode loop).

A worker keeps a few buffers (the loader's prefetch and two: :data:`DEFAULT_SLOTS`) and one
shared flag each. A batch tensor cut from a buffer reaches the training process with a lease on
it (:func:`weakref.finalize` on the tensor): once the tensor is garbage (the step is done with
the batch, or the pin-memory thread has copied it) the flag is cleared and the worker fills
that buffer again. Nothing ever waits: a worker that
finds every buffer still held (a trainer keeping many batches) takes a fresh segment, as
PyTorch does. A tensor is held for as long as the tensor itself or a view of it lives; only a
bare ``untyped_storage()`` of it outliving every tensor is not seen.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

#: The DataLoader's default prefetch (2 batches a worker) and two more: the training loop still
#: holds the previous batch while the next is handed over.
DEFAULT_SLOTS = 4


class _Ring:
    """This worker's buffers and their flags (1: a batch of it is out in the training process)."""

    def __init__(self, slots: int):
        self.flags = torch.zeros(slots, dtype=torch.uint8).share_memory_()
        self.free = self.flags.numpy()  # the same shared bytes, read without torch's indexing
        self.buffers: list[torch.UntypedStorage | None] = [None] * slots

    def take(self, nbytes: int) -> tuple[torch.UntypedStorage, int | None]:
        """A shared buffer of at least ``nbytes`` and its slot (``None``: a fresh one, not reused)."""
        for slot in np.flatnonzero(self.free == 0):
            buffer = self.buffers[slot]
            if buffer is None or buffer.nbytes() < nbytes:
                buffer = self.buffers[slot] = torch.UntypedStorage._new_shared(nbytes)
            self.free[slot] = 1
            return buffer, int(slot)
        return torch.UntypedStorage._new_shared(nbytes), None


_RING: _Ring | None = None  # one per worker process, made on its first batch


class Leased:
    """A batch tensor in a worker's shared memory: it unpickles in the training process as the
    tensor itself, with a finalizer that hands its buffer back (``slot`` None: a fresh one)."""

    __slots__ = ("tensor", "slot")

    def __init__(self, tensor: torch.Tensor, slot: int | None):
        self.tensor, self.slot = tensor, slot

    def release(self) -> None:
        """Hand the buffer back unsent (a batch that ended up shipped in another buffer)."""
        if self.slot is not None:
            _RING.free[self.slot] = 0
            self.slot = None

    def __reduce__(self):
        if self.slot is None:  # a fresh segment: nothing to hand back
            return _plain, (self.tensor,)
        return _with_lease, (self.tensor, _RING.flags, self.slot)


def shared_batch(shape: tuple[int, ...], dtype: torch.dtype, slots: int = DEFAULT_SLOTS) -> Leased:
    """An uninitialized batch tensor in shared memory, for a worker to fill and send (its bytes
    may hold an earlier batch); the worker keeps ``slots`` buffers (set by its first call)."""
    global _RING
    if _RING is None:
        _RING = _Ring(slots)
    buffer, slot = _RING.take(int(np.prod(shape)) * dtype.itemsize)
    return Leased(torch.empty(0, dtype=dtype).set_(buffer, 0, shape), slot)


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _with_lease(tensor: torch.Tensor, flags: torch.Tensor, slot: int) -> torch.Tensor:
    weakref.finalize(tensor, _release, flags, slot)
    return tensor


def _release(flags: torch.Tensor, slot: int) -> None:
    flags.numpy()[slot] = 0
