"""Learning-rate schedule: linear warmup then cosine to a floor (SimMIM / RingMo recipe).

A pure function of the optimizer step, so resuming only needs the step: no scheduler object
state to drift. The base rate scales linearly with the total batch (``base_lr * batch / 512``).
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


def apply_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
