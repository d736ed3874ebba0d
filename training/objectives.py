"""The reconstruction objective: L1 on masked pixels only (SimMIM / RingMo).

It reads the pixel mask the loader produced (``batch["mask"]``, 1 = masked), so the same loss
serves PIMask, SimMIM and random masks: visible pixels never count, and inside a PIMask patch
only the ~60 % of pixels that were hidden do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def patch_normalized(target: torch.Tensor, patch: int, eps: float = 1e-6) -> torch.Tensor:
    """Target standardized per ``patch x patch`` window and band.

    MAE's ``norm_pix_loss`` standardizes each patch over its pixels and bands together; doing
    it per band also takes out the patch's colour, leaving only its texture to predict.
    """
    b, c, h, w = target.shape
    windows = target.reshape(b, c, h // patch, patch, w // patch, patch)  # [B, C, h, p, w, p]
    mean = windows.mean(dim=(3, 5), keepdim=True)
    var = windows.var(dim=(3, 5), keepdim=True, unbiased=False)
    return ((windows - mean) / (var + eps).sqrt()).reshape(b, c, h, w)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
              norm_patch: int | None = None) -> torch.Tensor:
    """Mean absolute error over masked pixels and all bands.

    pred, target: ``[B, C, H, W]``; mask: ``[B, H, W]`` (1 = masked). ``norm_patch`` switches on
    the per-patch normalized target.
    """
    if norm_patch:
        target = patch_normalized(target, norm_patch)
    weight = mask.unsqueeze(1).to(pred.dtype)  # [B, 1, H, W]
    error = F.l1_loss(pred.float(), target.float(), reduction="none")  # [B, C, H, W]
    return (error * weight).sum() / (weight.sum() * pred.shape[1]).clamp_min(1.0)
