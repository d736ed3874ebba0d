"""The reconstruction picture: one row per sample, columns original / masked / reconstruction.

Images are normalized band-standardized tensors with any band count, so display takes the
first three bands (or the single band as grey) and stretches each panel between its 2nd and
98th percentiles: no RGB or ImageNet statistics are assumed. The reconstruction column pastes
the visible pixels back (what SimMIM shows); masked pixels appear black in the masked column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from catalogs.store import atomic_output


def display(image: np.ndarray, low: np.ndarray | None = None, high: np.ndarray | None = None) -> np.ndarray:
    """``[C, H, W]`` -> ``[H, W, 3]`` uint8 (first three bands, or the first one as grey) with a
    given per-band stretch; without one, each shown band's own 2-98 % range."""
    bands = image[:3] if image.shape[0] >= 3 else np.repeat(image[:1], 3, axis=0)
    if low is None or high is None:
        low, high = np.percentile(bands, 2, axis=(1, 2)), np.percentile(bands, 98, axis=(1, 2))
    scaled = (bands - low[:, None, None]) / np.maximum(high - low, 1e-6)[:, None, None]
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


def grid(image: torch.Tensor, mask: torch.Tensor, recon: torch.Tensor, rows: int = 4) -> np.ndarray:
    """``[rows * H, 3 * W, 3]`` uint8 picture from a batch (image, recon ``[B, C, H, W]``)."""
    image = image[:rows].detach().float().cpu().numpy()
    recon = recon[:rows].detach().float().cpu().numpy()
    mask = mask[:rows].detach().float().cpu().numpy()[:, None]  # [B, 1, H, W]
    lines = []
    for img, rec, m in zip(image, recon, mask):
        shown = img[:3] if img.shape[0] >= 3 else img[:1]
        low = np.percentile(shown, 2, axis=(1, 2))
        high = np.percentile(shown, 98, axis=(1, 2))
        if len(low) == 1:
            low, high = np.repeat(low, 3), np.repeat(high, 3)
        masked = display(img, low, high) * (1 - m[0, :, :, None]).astype(np.uint8)
        pasted = rec * m + img * (1 - m)
        lines.append(np.concatenate([display(img, low, high), masked, display(pasted, low, high)], axis=1))
    return np.concatenate(lines, axis=0)


def save_grid(path: str | Path, image: torch.Tensor, mask: torch.Tensor, recon: torch.Tensor,
              rows: int = 4, min_side: int = 256) -> Path:
    """Write the picture as PNG (upscaled with nearest so small CPU tiles stay legible)."""
    picture = Image.fromarray(grid(image, mask, recon, rows))
    factor = max(1, min_side // max(1, picture.height // max(1, min(rows, len(image)))))
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    with atomic_output(path) as handle:
        picture.save(handle, format="PNG")
    return Path(path)
