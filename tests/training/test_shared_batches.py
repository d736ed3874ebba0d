"""Loader workers refill the shared-memory buffers of batches the training process is done with,
and never one it still holds (the batch, or a view of it)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from training import data, shared_batches
from training.shared_batches import DEFAULT_SLOTS, shared_batch

BATCHES = 12


class _Numbered(IterableDataset):
    """Batch ``k``: a ``[4, 8]`` int32 tensor full of ``k`` in a worker buffer, and its slot (-1: fresh)."""

    def __iter__(self):
        for k in range(BATCHES):
            batch = shared_batch((4, 8), torch.int32)
            batch.tensor.fill_(k)
            yield {"image": batch, "slot": -1 if batch.slot is None else batch.slot, "k": k}


def _loader() -> DataLoader:
    return DataLoader(_Numbered(), batch_size=None, num_workers=1, prefetch_factor=2,
                      multiprocessing_context="fork")


def test_a_batch_arrives_as_a_plain_tensor_with_its_own_content():
    for batch in _loader():
        assert type(batch["image"]) is torch.Tensor
        assert torch.equal(batch["image"], torch.full((4, 8), batch["k"], dtype=torch.int32))


def test_buffers_of_dropped_batches_are_refilled_instead_of_new_memory():
    slots = [batch["slot"] for batch in _loader()]  # each batch dropped when the next arrives
    assert -1 not in slots  # never a fresh segment: the loop holds at most DEFAULT_SLOTS at once
    assert set(slots) <= set(range(DEFAULT_SLOTS)) and len(slots) == BATCHES


def test_batches_kept_by_the_trainer_are_never_overwritten():
    kept = list(_loader())
    assert [int(b["image"].unique()) for b in kept] == list(range(BATCHES))
    assert [b["slot"] for b in kept] == list(range(DEFAULT_SLOTS)) + [-1] * (BATCHES - DEFAULT_SLOTS)


def test_a_view_keeps_its_batch_held():
    views = [batch["image"][1:, ::2] for batch in _loader()]  # the batches themselves are dropped
    assert [int(v.unique()) for v in views] == list(range(BATCHES))


def test_a_reused_buffer_is_zeroed_below_a_short_tile(monkeypatch):
    """A tile decoded only down to its crop fills the top rows of its slot; a reused buffer still
    holds an earlier batch there, so the rows below are cleared."""
    monkeypatch.setattr(shared_batches, "_RING", None)
    monkeypatch.setattr(data, "get_worker_info", lambda: object())  # as inside a loader worker
    full = [np.full((6, 5, 3), 7, np.uint8)] * 2
    first = data._stacked(full, (6, 5, 3))
    shared_batches._RING.free[:] = 0  # the training process released every buffer
    second = data._stacked([np.full((4, 5, 3), 9, np.uint8)] * 2, (6, 5, 3))
    assert second.slot == first.slot  # the same bytes, refilled
    image = second.tensor.numpy()
    assert (image[:, :4] == 9).all() and (image[:, 4:] == 0).all()


def test_tiles_decoded_into_their_slots_are_shipped_in_place(monkeypatch):
    """The device path decodes a PNG tile straight into its slot of the batch buffer: stacking
    then copies nothing and only clears the rows below the tile; a buffer that does not fit the
    batch after all (tiles of another shape) goes back to the ring unsent."""
    monkeypatch.setattr(shared_batches, "_RING", None)
    monkeypatch.setattr(data, "get_worker_info", lambda: object())
    into = data._batch_buffer((2, 6, 5, 3), np.dtype(np.uint8))
    into[1][:] = 3  # an earlier batch's bytes
    tiles = [into[1][0][:4], into[1][1][:6]]
    tiles[0][:] = 8  # decoded in place: the top 4 rows of slot 0, all of slot 1
    shipped = data._stacked(tiles, (6, 5, 3), into=into)
    assert shipped is into[0]
    image = shipped.tensor.numpy()
    assert (image[0, :4] == 8).all() and (image[0, 4:] == 0).all() and (image[1] == 3).all()
    unsent = data._batch_buffer((2, 6, 5, 3), np.dtype(np.uint8))
    held = int(shared_batches._RING.free.sum())
    other = data._stacked([np.ones((2, 2, 3), np.uint8)] * 2, (2, 2, 3), into=unsent)
    assert other.slot != unsent[0].slot and int(shared_batches._RING.free.sum()) == held  # one taken, one back
