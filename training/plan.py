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

Mixed band layouts (``plan_layouts``): a batch holds one layout (sensor + bands + dtype), so
its samples stack and the model picks that layout's input. The epoch keeps its length in batches
(``len(index) // world // batch``); each layout gets a share of them proportional to
``n_layout ** layout_alpha`` (1: natural, 0: uniform), rounded by seeded systematic sampling
(the expected share is exact across epochs, so a rare layout is not starved by rounding), and the
layouts interleave in a seeded order that is the same on every rank: at a given step all ranks
run the same layout, so DDP reduces the same parameters. Within a layout the order is the
single-layout one above over its own samples; a layout with fewer samples on a rank than its
share is cycled (each pass augments and masks differently). One layout reproduces the
single-layout plan exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# stream tags so the epoch order, the rank's resampling, its shuffle and the per-sample draws
# use independent generators
_ORDER, _RESAMPLE, _SHUFFLE, _SAMPLE, _LAYOUTS = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class StreamConfig:
    """What the stream yields per epoch and how it is shuffled."""

    seed: int = 0
    batch_size: int = 32
    shuffle_buffer: int = 1000  # samples; 0 or 1 keeps storage order after the shard shuffle
    resampled: bool = False  # draw shards with replacement per rank (very large corpora)
    epoch_samples: int | None = None  # samples per epoch over all ranks (default: the index)
    layout_alpha: float = 1.0  # layout shares ~ n ** alpha (1: natural, 0: uniform)


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


def layout_quotas(sizes: np.ndarray, batches: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Batches per layout summing to ``batches``: shares ~ ``size ** alpha``, systematic rounding."""
    sizes = np.asarray(sizes, dtype=np.float64)
    weights = np.where(sizes > 0, sizes ** alpha, 0.0)
    edges = np.concatenate([[0.0], np.cumsum(weights / weights.sum() * batches)])
    points = rng.random() + np.arange(batches)  # one seeded offset, then unit steps
    return np.diff(np.searchsorted(points, edges, side="left"))


def plan_layouts(counts: np.ndarray, layout: np.ndarray, cfg: StreamConfig, epoch: int, rank: int = 0,
                 world: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(plan [batches, batch_size] index positions, layout of each batch [batches])`` for a rank.

    ``counts`` are samples per shard and ``layout`` each sample's layout id (index order, sorted
    by shard). See the module docstring for the proportions and the interleave.
    """
    counts, layout = np.asarray(counts, dtype=np.int64), np.asarray(layout, dtype=np.int64)
    ids = np.unique(layout)
    if len(ids) <= 1:
        plan = plan_epoch(counts, cfg, epoch, rank, world)
        return plan, np.full(len(plan), ids[0] if len(ids) else 0, dtype=np.int64)
    batches = batches_per_epoch(int(counts.sum()), cfg, world)
    shard_of = np.repeat(np.arange(len(counts)), counts)  # [M]
    rng = np.random.default_rng([cfg.seed, _LAYOUTS, epoch])  # the same on every rank
    sizes = np.array([np.count_nonzero(layout == i) for i in ids])
    quotas = layout_quotas(sizes, batches, cfg.layout_alpha, rng)
    parts, tags = [], []
    for n, (i, quota) in enumerate(zip(ids, quotas)):
        if quota:
            positions = np.flatnonzero(layout == i)  # [M_i], sorted by shard
            sub = np.bincount(shard_of[positions], minlength=len(counts))
            parts.append(positions[_layout_sequence(sub, cfg, epoch, rank, world, n, int(quota))])
            tags.append(np.full(int(quota), i, dtype=np.int64))
    order = rng.permutation(batches)  # interleave: the same on every rank
    plan = np.concatenate(parts).reshape(batches, cfg.batch_size)[order]
    return plan, np.concatenate(tags)[order]


def _layout_sequence(counts: np.ndarray, cfg: StreamConfig, epoch: int, rank: int, world: int, n: int,
                     quota: int) -> np.ndarray:
    """``quota * batch_size`` positions (in the layout's own index) of one layout for this rank."""
    need = quota * cfg.batch_size
    total = int(counts.sum())
    share = StreamConfig(cfg.seed, cfg.batch_size, cfg.shuffle_buffer, cfg.resampled,
                         need * world if cfg.resampled else None)
    if total >= world:
        sequence = rank_sequence(counts, share, epoch, rank, world)
    else:  # fewer samples than ranks: every rank cycles all of them
        sequence = _shard_ranges(counts, np.random.default_rng([cfg.seed, _ORDER, epoch]).permutation(len(counts)))
    sequence = buffer_shuffle(sequence, cfg.shuffle_buffer, np.random.default_rng([cfg.seed, _SHUFFLE, epoch, rank, n]))
    return np.resize(sequence, need)  # cycles a layout with fewer samples than its share

