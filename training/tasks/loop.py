"""The fine-tuning loop every dense task shares: AdamW, warmup + cosine, clipping, JSONL metrics.

A task hands over its model, a loader and ``loss_of(model, batch) -> {name: loss}``; the loop
sums the named losses, steps, and writes one line per epoch (mean of each loss, learning rate,
seconds per step) to ``metrics.jsonl``, plus whatever ``after_epoch`` returns (validation
scores). Encoder parameters can learn at a fraction of the head's rate (``encoder_lr_scale``),
the usual practice when a pretrained trunk carries a freshly initialised head.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from training.schedule import Schedule, apply_lr

MIN_LR = 1e-6  # warmup starts and the cosine ends here


@dataclass(frozen=True)
class LoopConfig:
    epochs: int
    lr: float
    weight_decay: float = 0.05
    warmup_steps: int = 0
    clip_grad: float = 10.0
    encoder_lr_scale: float = 1.0
    seed: int = 0


def _groups(model: nn.Module, cfg: LoopConfig) -> list[dict]:
    """No decay on norms and biases; encoder (``*encoder.*``) at ``encoder_lr_scale``."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault((".encoder." in f".{name}", param.ndim <= 1), []).append(param)
    return [{"params": params, "weight_decay": 0.0 if flat else cfg.weight_decay,
             "lr_scale": cfg.encoder_lr_scale if encoder else 1.0}
            for (encoder, flat), params in sorted(groups.items())]


def train(model: nn.Module, loader, loss_of: Callable, cfg: LoopConfig, out: str | Path, device: str,
          after_epoch: Callable[[int], dict] | None = None, groups: list[dict] | None = None) -> list[dict]:
    """Train ``cfg.epochs`` epochs; returns the per-epoch records (also in ``out/metrics.jsonl``).

    ``groups`` (each with an ``lr_scale``) replaces the default parameter groups, e.g. the
    layer-wise decayed groups of ``training.tasks.dense.param_groups``.
    """
    model.to(device)
    optimizer = torch.optim.AdamW(groups or _groups(model, cfg), lr=cfg.lr)
    total = cfg.epochs * len(loader)
    schedule = Schedule(cfg.lr, total, cfg.warmup_steps, min_lr=MIN_LR, warmup_start_lr=MIN_LR)
    torch.manual_seed(cfg.seed + 1)
    step, history = 0, []
    with open(Path(out) / "metrics.jsonl", "w") as log_file:
        for epoch in range(cfg.epochs):
            if hasattr(loader.dataset, "set_epoch"):
                loader.dataset.set_epoch(epoch)
            model.train()
            sums: dict[str, float] = {}
            started = time.perf_counter()
            for batch in loader:
                lr = schedule.lr(step)
                apply_lr(optimizer, lr)  # times each group's lr_scale
                losses = loss_of(model, batch)
                loss = sum(losses.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
                optimizer.step()
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach())
                step += 1
            steps = max(1, len(loader))
            record = {"epoch": epoch + 1, "step": step, "lr": lr,
                      "seconds_per_step": round((time.perf_counter() - started) / steps, 4),
                      **{f"loss_{k}": v / steps for k, v in sums.items()}}
            if after_epoch is not None:
                record.update(after_epoch(epoch))
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            history.append(record)
    return history
