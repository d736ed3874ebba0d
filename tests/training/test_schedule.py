"""The one learning-rate schedule: warmup + cosine for pretraining and fine-tuning, plain cosine
for the linear probe."""

import math

import pytest
import torch

from training.schedule import Schedule, apply_lr


def test_warmup_then_cosine_to_the_floor():
    s = Schedule(peak_lr=1e-3, total_steps=110, warmup_steps=10, min_lr=1e-6, warmup_start_lr=1e-6)
    assert s.lr(0) == pytest.approx(1e-6)
    assert s.lr(5) == pytest.approx(1e-6 + (1e-3 - 1e-6) / 2)
    assert s.lr(10) == pytest.approx(1e-3)
    assert s.lr(60) == pytest.approx(1e-6 + (1e-3 - 1e-6) / 2)
    assert s.lr(110) == s.lr(500) == pytest.approx(1e-6)
    assert all(s.lr(i) >= s.lr(i + 1) for i in range(10, 120))


def test_without_warmup_it_is_the_probe_s_plain_cosine():
    s = Schedule(peak_lr=0.01, total_steps=40, warmup_steps=0, min_lr=0.0)
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * i / 40)) for i in range(40)]
    assert [s.lr(i) for i in range(40)] == pytest.approx(expected, rel=1e-12)


def test_apply_lr_keeps_layer_decay_scales():
    layer = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD([{"params": [layer.weight], "lr_scale": 0.5}, {"params": [layer.bias]}], lr=1.0)
    apply_lr(opt, 0.2)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]


def test_peak_lr_keeps_ringmo_at_scale_and_floors_short_small_batch_runs():
    from training.schedule import peak_lr

    assert peak_lr(1e-4, 2048, 100_000, floor=1.4e-3) == pytest.approx(4e-4)  # RingMo's linear rule
    assert peak_lr(1e-4, 8, 60, floor=1.4e-3) == pytest.approx(1.4e-3 * (8 / 60) ** 0.5)  # ~5.1e-4
    assert peak_lr(1e-4, 32, 300, floor=1.4e-3) == pytest.approx(1.4e-3 * (32 / 300) ** 0.5)  # ~4.6e-4
    assert peak_lr(1e-4, 8, 60, floor=0.0) == pytest.approx(1e-4 * 8 / 512)  # floor off: linear only
    assert peak_lr(1e-4, 8, 600, floor=1.4e-3) < peak_lr(1e-4, 8, 60, floor=1.4e-3)  # longer runs: lower
    assert peak_lr(1e-4, 32, 60, floor=1.4e-3) > peak_lr(1e-4, 8, 60, floor=1.4e-3)  # bigger batches: higher
