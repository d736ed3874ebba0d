"""Linear probe: pooled features of a frozen encoder computed once, then a linear head on them.

The encoder never changes, so features are extracted once per split (no augmentation) and
the head trains on the cached ``[N, F]`` matrix: seconds on a CPU, even for NWPU-RESISC45.
As MAE's probe, features are standardized with the training split's statistics (a BatchNorm
without affine); the L2 weight is picked on the validation split from a small grid. The
standardization is folded into the head afterwards.

Two feature kinds (``FEATURES``), the same for every initialization so comparisons stay fair:

* ``pooled``: the timm model's pooled pre-logit features (SimMIM / MAE probe); the result is
  a plain timm classifier.
* ``stages``: mean and standard deviation of the token maps of the last ``STAGE_LEVELS``
  stages (Swin) or blocks (ViT), concatenated. A MIM encoder's last layer specializes in
  feeding the pixel decoder, so its average is mostly the mean colour; earlier levels hold the
  more transferable features (iGPT and BEiT probe intermediate layers), and the per-channel
  spread of a feature map is the classic texture statistic (Gatys et al.) that a mean alone
  throws away. Remote-sensing scene classes are largely texture and layout, so this probe is
  the one that shows what short MIM pretraining learned. The result is a
  ``StageStatsClassifier`` (encoder + head), not a plain timm classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.schedule import Schedule, apply_lr

FEATURES = ("pooled", "stages")
DEFAULT_FEATURES = "stages"  # issue 14's runs: MIM pretraining lowers the pooled probe below random init
STAGE_LEVELS = 4  # last 4 Swin stages (all of them) or ViT blocks


@dataclass(frozen=True)
class ProbeConfig:
    epochs: int = 100
    lr: float = 0.01  # AdamW peak rate on standardized features
    batch_size: int = 256
    decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2)  # L2 weights tried (per-sample mean loss)
    seed: int = 0


def pooled_features(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """``[B, F]``: the model's pooled pre-logit features (what a linear probe sees)."""
    return model.forward_head(model.forward_features(image), pre_logits=True)


def stage_statistics(model: nn.Module, image: torch.Tensor, levels: int = STAGE_LEVELS) -> torch.Tensor:
    """``[B, 2 * sum(C_i)]``: per channel mean and std over space of the last ``levels`` maps
    (all of them when the model has fewer)."""
    levels = min(levels, len(model.feature_info))
    maps = model.forward_intermediates(image, indices=levels, intermediates_only=True, norm=False)  # [B, C_i, h, w]
    return torch.cat([torch.cat([m.mean((2, 3)), m.std((2, 3), unbiased=False)], 1) for m in maps], 1)


def probe_features(model: nn.Module, image: torch.Tensor, features: str = "pooled") -> torch.Tensor:
    """``[B, F]`` features of one kind of ``FEATURES``."""
    if features == "pooled":
        return pooled_features(model, image)
    if features == "stages":
        return stage_statistics(model, image)
    raise ValueError(f"unknown probe features {features!r}; expected one of {FEATURES}")


@torch.no_grad()
def extract_features(model: nn.Module, loader, device: str = "cpu",
                     features: str = "pooled") -> tuple[torch.Tensor, torch.Tensor]:
    """``(features [N, F] float32, targets [N] int64)`` of a frozen model over a loader."""
    model.eval()
    feats, targets = [], []
    for image, target in loader:
        feats.append(probe_features(model, image.to(device), features).float().cpu())  # [B, F]
        targets.append(torch.as_tensor(target))
    return torch.cat(feats), torch.cat(targets).long()


class StageStatsClassifier(nn.Module):
    """A frozen timm encoder + a linear head on its ``stage_statistics``: ``forward(image) -> logits``."""

    def __init__(self, encoder: nn.Module, head: nn.Linear, levels: int = STAGE_LEVELS):
        super().__init__()
        encoder.reset_classifier(0)  # the timm head is unused: keep it out of the state dict
        self.encoder, self.head, self.levels = encoder, head, levels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(stage_statistics(self.encoder, image, self.levels))

    def card(self) -> dict:
        """What ``shell`` needs to rebuild the module before loading its state dict."""
        return {"features": "stages", "levels": self.levels, "feature_dim": self.head.in_features}

    @classmethod
    def shell(cls, encoder: nn.Module, card: dict) -> "StageStatsClassifier":
        """An untrained module shaped as ``card`` says (``encoder`` built from the card's timm kwargs)."""
        return cls(encoder, nn.Linear(card["feature_dim"], len(card["classes"])), card["levels"])


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
    schedule = Schedule(cfg.lr, total, warmup_steps=0, min_lr=0.0)  # plain cosine from the peak
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.randperm(x.shape[0], generator=gen)
        idx = order[(step % per_epoch) * cfg.batch_size:(step % per_epoch + 1) * cfg.batch_size]
        apply_lr(opt, schedule.lr(step))
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
