"""Mask generators for masked image modeling: PIMask (RingMo), SimMIM and random pixels.

Masks are data: the loader workers draw one per sample from a generator seeded by the sample's
position in the epoch (see ``training.plan``), so a resumed run sees the same masks. Every mask
is a pixel mask ``[H, W]`` of uint8 (1 = masked) so the objective is the same for every kind;
the SimMIM model reads its token mask off the pixel mask (whole patches are masked).

PIMask (Patch Incomplete Mask, RingMo): pick ``ceil(ratio * N)`` of the N mask patches, and
inside each picked patch mask ``ceil(pixel_ratio * patch**2)`` pixels drawn one by one, so
about 40 % of a masked patch stays visible and small objects (a car, a tank) are not erased
whole. Masked pixels are zeroed before the patch embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

KINDS = ("pimask", "simmim", "random")


@dataclass(frozen=True)
class MaskConfig:
    """Which mask and how much of the image it hides (RingMo's defaults)."""

    kind: str = "pimask"  # pimask | simmim | random
    mask_patch: int = 32  # side of a mask patch in pixels
    ratio: float = 0.6  # fraction of mask patches picked (pimask, simmim); of pixels (random)
    pixel_ratio: float = 0.6  # fraction of pixels masked inside a picked patch (pimask)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown mask kind {self.kind!r}; expected one of {KINDS}")
        if not (0.0 < self.ratio <= 1.0 and 0.0 < self.pixel_ratio <= 1.0):
            raise ValueError("mask ratios must be in (0, 1]")

    @property
    def zeroes_pixels(self) -> bool:
        """PIMask and random masks zero pixels; SimMIM puts a learnable token after embedding."""
        return self.kind != "simmim"


def _patch_grid(size: int, patch: int) -> int:
    if size % patch:
        raise ValueError(f"image size {size} is not a multiple of the mask patch {patch}")
    return size // patch


def _picked_patches(n_patches: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``ceil(ratio * n)`` distinct patches, drawn at random."""
    count = math.ceil(ratio * n_patches)
    return rng.permutation(n_patches)[:count]


def exact_subsets(rows: int, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``[rows, size]`` uint8, each row an independent uniform choice of ``count`` ones.

    Keeps the ``count`` smallest of i.i.d. 16-bit random keys, drawing among keys tied at the
    threshold: uniform by exchangeability (16-bit keys are cheap to draw; the masks are the
    ones every earlier version drew). The selection is a compiled radix select (one histogram
    pass on the top byte, a sort of the few keys in the threshold's bucket): this runs once per
    sample in the loader, where ``np.partition`` cost ~0.3 ms a PIMask.
    """
    keys = rng.integers(0, 1 << 16, (rows, size), dtype=np.uint16)
    chosen = np.zeros((rows, size), dtype=np.uint8)
    thresholds, short = _mark_smallest(keys, count, chosen)
    for r in np.flatnonzero(short):  # ties straddle the threshold: draw among them
        tied = np.flatnonzero(keys[r] == thresholds[r])
        chosen[r, rng.choice(tied, short[r], replace=False)] = 1
    return chosen


@numba.njit(cache=True, nogil=True)
def _mark_smallest(keys, count, chosen):  # pragma: no cover - compiled
    """Mark each row's ``count`` smallest 16-bit keys in ``chosen``; returns the threshold key of
    every row and how many ones are still to be drawn among keys equal to it (0 unless the
    threshold is tied across the cut, which the caller settles at random)."""
    rows, size = keys.shape
    thresholds = np.zeros(rows, dtype=keys.dtype)
    short = np.zeros(rows, dtype=np.int64)
    for r in range(rows):
        counts = np.zeros(256, dtype=np.int64)
        for i in range(size):
            counts[keys[r, i] >> 8] += 1
        bucket, before = 0, 0
        while before + counts[bucket] < count:
            before += counts[bucket]
            bucket += 1
        candidates = np.empty(counts[bucket], dtype=keys.dtype)
        k = 0
        for i in range(size):
            if keys[r, i] >> 8 == bucket:
                candidates[k] = keys[r, i]
                k += 1
        candidates.sort()
        threshold = candidates[count - before - 1]
        below = 0
        for i in range(size):
            if keys[r, i] < threshold:
                chosen[r, i] = 1
                below += 1
        equal = 0
        for c in candidates:
            equal += c == threshold
        if below + equal == count:  # no tie across the cut: take the threshold's keys too
            for i in range(size):
                if keys[r, i] == threshold:
                    chosen[r, i] = 1
        else:
            short[r] = count - below
        thresholds[r] = threshold
    return thresholds, short


def simmim_mask(size: int, cfg: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """Whole ``mask_patch`` squares masked: ``[size, size]`` uint8."""
    grid = _patch_grid(size, cfg.mask_patch)
    cells = np.zeros(grid * grid, dtype=np.uint8)
    cells[_picked_patches(grid * grid, cfg.ratio, rng)] = 1
    cells = cells.reshape(grid, grid)
    return np.repeat(np.repeat(cells, cfg.mask_patch, axis=0), cfg.mask_patch, axis=1)


def pimask(size: int, cfg: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """RingMo's Patch Incomplete Mask: ``[size, size]`` uint8."""
    p = cfg.mask_patch
    grid = _patch_grid(size, p)
    picked = _picked_patches(grid * grid, cfg.ratio, rng)  # [K]
    per_patch = math.ceil(cfg.pixel_ratio * p * p)
    inner = exact_subsets(len(picked), p * p, per_patch, rng)  # [K, p*p]
    blocks = np.zeros((grid * grid, p, p), dtype=np.uint8)
    blocks[picked] = inner.reshape(-1, p, p)
    # [grid*grid, p, p] -> [grid, p, grid, p] -> [size, size]
    return blocks.reshape(grid, grid, p, p).transpose(0, 2, 1, 3).reshape(size, size)


def random_mask(size: int, cfg: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """``ceil(ratio * size**2)`` pixels masked uniformly over the image: ``[size, size]`` uint8."""
    count = math.ceil(cfg.ratio * size * size)
    flat = np.zeros(size * size, dtype=np.uint8)
    flat[rng.permutation(size * size)[:count]] = 1
    return flat.reshape(size, size)


_GENERATORS = {"pimask": pimask, "simmim": simmim_mask, "random": random_mask}


def generate_mask(size: int, cfg: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """One mask of the configured kind for a square ``size`` image (1 = masked)."""
    return _GENERATORS[cfg.kind](size, cfg, rng)


def _subsets(rows: int, size: int, count: int, generator, device):
    """``[rows, size]`` bool, each row a uniform choice of ``count`` (ranks of random keys)."""
    import torch

    keys = torch.rand(rows, size, generator=generator, device=device)
    ranks = keys.argsort(dim=1).argsort(dim=1)
    return ranks < count


def mask_batch(batch: int, size: int, cfg: MaskConfig, generator, device):
    """``[batch, size, size]`` uint8 masks of the configured kind, drawn on ``device`` in one go.

    The device path of ``generate_mask`` (training on a GPU, the loader workers then skip
    masking): the same distribution (exact subset sizes), drawn from a torch generator seeded by
    the batch's place in the epoch, so a resumed run still sees the same masks.
    """
    import torch

    if cfg.kind == "random":
        flat = _subsets(batch, size * size, math.ceil(cfg.ratio * size * size), generator, device)
        return flat.view(batch, size, size).to(torch.uint8)
    p = cfg.mask_patch
    grid = _patch_grid(size, p)
    cells = _subsets(batch, grid * grid, math.ceil(cfg.ratio * grid * grid), generator, device)  # [B, N]
    if cfg.kind == "simmim":
        inner = torch.ones(batch, grid * grid, p * p, dtype=torch.bool, device=device)
    else:
        inner = _subsets(batch * grid * grid, p * p, math.ceil(cfg.pixel_ratio * p * p), generator, device)
        inner = inner.view(batch, grid * grid, p * p)
    blocks = (inner & cells[:, :, None]).view(batch, grid, grid, p, p)  # [B, gy, gx, p, p]
    return blocks.permute(0, 1, 3, 2, 4).reshape(batch, size, size).to(torch.uint8)
