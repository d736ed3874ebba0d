"""Learning-rate schedule: linear warmup then cosine to a floor (SimMIM / RingMo recipe).

The one schedule of the project: pretraining, fine-tuning, the tasks' loop and the linear
probe (no warmup, floor 0) all use it. A pure function of the optimizer step, so resuming
only needs the step: no scheduler object state to drift. The base rate scales linearly with
the total batch (``base_lr * batch / 512``), with a floor for short small-batch runs (:func:`peak_lr`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    peak_lr: float
    total_steps: int
    warmup_steps: int
    min_lr: float = 5e-7
    warmup_start_lr: float = 5e-7

    def lr(self, step: int) -> float:
        """The rate for optimizer step ``step`` (0-based)."""
        if step < self.warmup_steps:
            frac = step / max(1, self.warmup_steps)
            return self.warmup_start_lr + (self.peak_lr - self.warmup_start_lr) * frac
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (1 + math.cos(math.pi * progress))


def scaled_lr(base_lr: float, total_batch: int, reference_batch: int = 512) -> float:
    """Linear scaling rule: ``base_lr * total_batch / reference_batch``."""
    return base_lr * total_batch / reference_batch


def peak_lr(base_lr: float, total_batch: int, steps: int, floor: float = 0.0, reference_batch: int = 512) -> float:
    """RingMo's linear rule, floored at ``floor * sqrt(total_batch / steps)``.

    RingMo's ``1e-4 * batch / 512`` is tuned for batch 2048 over ~10^5 steps; at batch 8-64 it
    gives a 2e-6..1e-5 peak and a run of a few hundred steps learns nothing. The floor follows
    the two regularities of small budgets: the best rate of a short run grows as 1/sqrt(steps),
    and a smaller batch (noisier gradients) wants a smaller rate, ~sqrt(batch) (the square-root
    scaling rule). Issue 14's measurements, Swin-nano on mixed real corpora, stages linear probe
    on the demo's labeled set, pretrained minus random init over seeds: at batch 8 x 60 steps a
    2.1e-3 / 1.0e-3 / 5.2e-4 peak gave +0.009 / +0.034 / +0.057 top-1, at batch 32 x 300 steps
    9.2e-4 / 4.6e-4 / 2.3e-4 gave +0.124 / +0.138 / +0.077; ``floor=1.4e-3`` puts both at their
    best (5.1e-4 and 4.6e-4) and leaves a RingMo run (batch 2048, 10^5 steps: 2e-4) on its 4e-4.
    """
    linear = scaled_lr(base_lr, total_batch, reference_batch)
    return max(linear, floor * math.sqrt(total_batch / max(1, steps))) if floor > 0 else linear


def apply_lr(optimizer, lr: float) -> None:
    """Set every parameter group's rate; groups with an ``lr_scale`` (timm's layer-wise decay)
    get ``lr * lr_scale``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
