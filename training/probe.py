"""Linear probe: pooled features of a frozen encoder computed once, then a linear head on them.

The encoder never changes, so features are extracted once per split (no augmentation) and
the head trains on the cached ``[N, F]`` matrix: seconds on a CPU, even for NWPU-RESISC45.
As MAE's probe, features are standardized with the training split's statistics (a BatchNorm
without affine); the L2 weight is picked on the validation split from a small grid. The
standardization is folded into the head afterwards, so the result is a plain timm classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.weights import pooled_features


@dataclass(frozen=True)
class ProbeConfig:
    epochs: int = 100
    lr: float = 0.01  # AdamW peak rate on standardized features
    batch_size: int = 256
    decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2)  # L2 weights tried (per-sample mean loss)
    seed: int = 0


@torch.no_grad()
def extract_features(model: nn.Module, loader, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(features [N, F] float32, targets [N] int64)`` of a frozen model over a loader."""
    model.eval()
    feats, targets = [], []
    for image, target in loader:
        feats.append(pooled_features(model, image.to(device)).float().cpu())  # [B, F]
        targets.append(torch.as_tensor(target))
    return torch.cat(feats), torch.cat(targets).long()


def _fit(x: torch.Tensor, y: torch.Tensor, num_classes: int, decay: float, cfg: ProbeConfig) -> nn.Linear:
    """Softmax regression by mini-batch AdamW with a cosine schedule (seeded order and init)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    head = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0, 0.01, generator=gen)
        head.bias.zero_()
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=0.0)
    per_epoch = max(1, math.ceil(x.shape[0] / cfg.batch_size))
    total = cfg.epochs * per_epoch
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(x.shape[0], generator=gen)
        idx = order[(step % per_epoch) * cfg.batch_size:(step % per_epoch + 1) * cfg.batch_size]
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
        loss = nn.functional.cross_entropy(head(x[idx]), y[idx]) + decay * head.weight.pow(2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return head


def _accuracy(head: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((head(x).argmax(1) == y).float().mean())


def train_probe(train: tuple[torch.Tensor, torch.Tensor], num_classes: int, cfg: ProbeConfig = ProbeConfig(),
                val: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[nn.Linear, dict]:
    """A head on raw features (standardization folded in) and ``{"decay", "val_top1", "train_top1"}``.

    Without a validation split the middle of the grid is used.
    """
    x, y = train
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    decays = cfg.decays if val is not None and len(val[1]) else (cfg.decays[len(cfg.decays) // 2],)
    best, tried = None, {}
    for decay in decays:
        head = _fit(z, y, num_classes, decay, cfg)
        score = _accuracy(head, (val[0] - mean) / std, val[1]) if len(decays) > 1 else float("nan")
        tried[str(decay)] = score
        if best is None or score > best[0]:
            best = (score, decay, head)
    score, decay, head = best
    folded = fold_standardization(head, mean, std)
    info = {"decay": decay, "val_top1_by_decay": tried, "train_top1": _accuracy(head, z, y)}
    return folded, info


def fold_standardization(head: nn.Linear, mean: torch.Tensor, std: torch.Tensor) -> nn.Linear:
    """``head((x - mean) / std)`` as one linear map of ``x``."""
    out = nn.Linear(head.in_features, head.out_features)
    with torch.no_grad():
        out.weight.copy_(head.weight / std)  # [K, F]
        out.bias.copy_(head.bias - (head.weight * (mean / std)).sum(1))
    return out


def predictions(head: nn.Linear, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return head(x).argmax(1).numpy()
