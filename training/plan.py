"""The epoch plan: which samples each rank reads, in which order, batch by batch.

The whole order is a pure function of (seed, epoch, rank, world) over the sample index (integer
arrays: no bytes read), which is what makes resume exact: the stream position is just
``(epoch, batches consumed)``, and resuming recomputes the plan and skips the consumed batches
without reading them. The number of loader
workers does not change the order either (the ``g``-th batch after the start position goes to
worker ``g % workers``, the order in which the DataLoader collects them), so a run may resume
with another worker count.

Order, like WebDataset's: shards shuffled per epoch (seeded), their samples concatenated in
storage order, then a seeded buffer shuffle (each rank reads a window of ~``shuffle_buffer``
samples at a time, so reads stay local in the shards).

Equal work per rank, so DDP cannot hang: in the default mode the epoch sequence is cut into
``world`` equal contiguous blocks and the remainder (< world samples) is *dropped*, then each
rank drops its last partial batch; every rank gets exactly ``len(index) // world // batch``
batches and no sample is seen twice in an epoch. Which samples are dropped changes with the
epoch's shard order. In ``resampled`` mode each rank draws shards with replacement (seeded by
its rank) until it has its share, for corpora too large to enumerate per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# stream tags so the epoch order, the rank's resampling, its shuffle and the per-sample draws
# use independent generators
_ORDER, _RESAMPLE, _SHUFFLE, _SAMPLE = 1, 2, 3, 4


@dataclass(frozen=True)
class StreamConfig:
    """What the stream yields per epoch and how it is shuffled."""

    seed: int = 0
    batch_size: int = 32
    shuffle_buffer: int = 1000  # samples; 0 or 1 keeps storage order after the shard shuffle
    resampled: bool = False  # draw shards with replacement per rank (very large corpora)
    epoch_samples: int | None = None  # samples per epoch over all ranks (default: the index)


def buffer_shuffle(items: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """WebDataset's shuffle buffer replayed on indices: fill ``size``, emit a random one, refill."""
    if size <= 1 or len(items) <= 1:
        return items.copy()
    draws = rng.random(len(items) + size)
    buffer: list = []
    out = np.empty_like(items)
    n = 0
    for item in items.tolist():
        buffer.append(item)
        if len(buffer) >= size:
            j = int(draws[n] * len(buffer))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            out[n] = buffer.pop()
            n += 1
    while buffer:
        j = int(draws[n] * len(buffer))
        buffer[j], buffer[-1] = buffer[-1], buffer[j]
        out[n] = buffer.pop()
        n += 1
    return out


def _shard_ranges(counts: np.ndarray, shards: np.ndarray) -> np.ndarray:
    """Index positions of the samples of ``shards`` in that order (index sorted by shard)."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if len(shards) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(starts[s], starts[s] + counts[s]) for s in shards]).astype(np.int64)


def rank_sequence(counts: np.ndarray, cfg: StreamConfig, epoch: int, rank: int, world: int) -> np.ndarray:
    """This rank's samples for the epoch, before the buffer shuffle."""
    total = int(counts.sum())
    per_rank = (cfg.epoch_samples or total) // world
    if cfg.resampled:
        rng = np.random.default_rng([cfg.seed, _RESAMPLE, epoch, rank])
        nonempty = np.flatnonzero(counts)
        chosen: list[int] = []
        have = 0
        while have < per_rank:  # draw shards with replacement until this rank has its share
            shard = int(rng.choice(nonempty))
            chosen.append(shard)
            have += int(counts[shard])
        return _shard_ranges(counts, np.array(chosen, dtype=np.int64))[:per_rank]
    if cfg.epoch_samples and cfg.epoch_samples > total:
        raise ValueError(f"epoch_samples {cfg.epoch_samples} > {total} samples; use resampled mode")
    order = np.random.default_rng([cfg.seed, _ORDER, epoch]).permutation(len(counts))
    sequence = _shard_ranges(counts, order)
    return sequence[rank * per_rank : (rank + 1) * per_rank]


def plan_epoch(counts: np.ndarray, cfg: StreamConfig, epoch: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """``[batches, batch_size]`` index positions this rank reads in ``epoch``, in order."""
    sequence = rank_sequence(np.asarray(counts, dtype=np.int64), cfg, epoch, rank, world)
    rng = np.random.default_rng([cfg.seed, _SHUFFLE, epoch, rank])
    sequence = buffer_shuffle(sequence, cfg.shuffle_buffer, rng)
    batches = len(sequence) // cfg.batch_size
    return sequence[: batches * cfg.batch_size].reshape(batches, cfg.batch_size)


def batches_per_epoch(total: int, cfg: StreamConfig, world: int = 1) -> int:
    """Batches every rank yields per epoch (the same on all ranks by construction)."""
    return (cfg.epoch_samples or total) // world // cfg.batch_size


def sample_rng(cfg: StreamConfig, epoch: int, rank: int, position: int) -> np.random.Generator:
    """The generator for one sample's augmentation and mask, from its place in the plan."""
    return np.random.default_rng([cfg.seed, _SAMPLE, epoch, rank, position])
