"""The GPU benchmark's tiny CPU version runs, so the CUDA run is not the first time its code runs."""

import math

import pytest
import torch

from benchmarks import gpu


@pytest.mark.slow
def test_tiny_version_reports_every_figure(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    figures = gpu.run(quick=True)
    names = [f.figure for f in figures]
    assert "synthetic input, img/s" in names and "loader workers for wait <= 10%, jpg" in names
    assert sum("real loader" in n and "img/s" in n for n in names) == 4  # PNG and JPEG, 0 and 1 workers
    rates = [f.ours for f in figures if f.unit == "img/s"]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    waits = [f.ours for f in figures if f.unit == "fraction"]
    assert all(0.0 <= w < 1.0 for w in waits)
