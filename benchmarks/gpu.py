"""GPU readiness: pretraining step time, img/s, data wait and peak memory of the MIM trainer.

On CUDA: RingMo's encoder (Swin-B, 192 px, PIMask) in bf16 autocast with channels-last, as
``training.pretrain`` runs it, measured

* on synthetic input already on the device (the compute limit), ``torch.compile`` off and on;
* with the real loader (``training.data.MimStream`` over a corpus of 512 px PNG tiles, and one
  of JPEG q95 tiles, as ``benchmarks.loader`` builds them) at several worker counts, set up as
  the trainer does on CUDA (``on_device``: crops and masks on the GPU, JPEG decoded there by
  nvJPEG): img/s, the fraction of the step spent waiting for data, and the fewest workers that
  keep the wait under 10 %;
* peak device memory of a step.

Without CUDA it runs the same code on a tiny configuration (Swin-nano, 64 px, fp32, a few
steps) so CI keeps it working (``tests/benchmarks``); those CPU figures say nothing about a GPU.
The baseline of each row is measured in the same run: compile on vs off, loader vs synthetic.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.figures import Figure

WAIT_OK = 0.10  # data wait fraction a loader may cost


@dataclass(frozen=True)
class Setup:
    model: str
    img: int
    batch: int
    steps: int
    amp: torch.dtype | None
    workers: tuple[int, ...]
    tiles: int
    compile: bool


def setup(device: str, quick: bool) -> Setup:
    if device == "cuda" and not quick:
        return Setup("swin_base", 192, 128, 20, torch.bfloat16, (4, 8, 12), 1024, True)
    if device == "cuda":
        return Setup("swin_base", 192, 64, 5, torch.bfloat16, (4,), 256, True)
    return Setup("swin_nano", 64, 8, 2, None, (0, 1), 16, False)


def _model(s: Setup, device: str):
    from training.masking import MaskConfig
    from training.models import MaskedImageModel, model_spec

    mask = MaskConfig(mask_patch=model_spec(s.model).mask_patch)  # the pretraining default
    model = MaskedImageModel(s.model, 3, mask, s.img).to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, mask


class Stepper:
    """One optimizer step of the pretraining objective (the loop of ``training.pretrain``)."""

    def __init__(self, s: Setup, device: str, compiled: bool):
        from training.models import parameter_groups

        torch.manual_seed(0)
        self.s, self.device = s, device
        self.model, self.mask_cfg = _model(s, device)
        self.net = torch.compile(self.model) if compiled else self.model
        self.opt = torch.optim.AdamW(parameter_groups(self.model, 0.05), lr=1e-4)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> None:
        from training.objectives import masked_l1

        self.opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda" if self.device == "cuda" else "cpu", dtype=self.s.amp or torch.float32,
                            enabled=self.s.amp is not None):
            loss = masked_l1(self.net(image, mask), image, mask)
        loss.backward()
        self.opt.step()

    def synthetic(self) -> tuple[torch.Tensor, torch.Tensor]:
        from training.masking import generate_mask

        rng = np.random.default_rng(0)
        image = torch.randn(self.s.batch, 3, self.s.img, self.s.img, device=self.device)  # [B, 3, S, S]
        mask = torch.from_numpy(np.stack([generate_mask(self.s.img, self.mask_cfg, rng) for _ in range(self.s.batch)]))
        return image.contiguous(memory_format=torch.channels_last), mask.to(self.device)  # [B, S, S]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def synthetic_rate(s: Setup, device: str, compiled: bool) -> tuple[float, float]:
    """``(seconds per step, peak memory GiB)`` on input already on the device."""
    step = Stepper(s, device, compiled)
    image, mask = step.synthetic()
    for _ in range(3 if compiled else 1):  # compile and autotune outside the timing
        step(image, mask)
    _sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(s.steps):
        step(image, mask)
    _sync(device)
    seconds = (time.perf_counter() - start) / s.steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return seconds, peak


def loader_rate(s: Setup, device: str, corpus: Path, workers: int) -> tuple[float, float]:
    """``(img/s, data wait fraction)`` of training steps fed by the real loader."""
    from training.data import MimStream, SampleSpec, make_loader, open_source, prepare
    from training.plan import StreamConfig
    from training.transforms import AugmentConfig

    step = Stepper(s, device, False)
    index, stats = open_source(corpus=str(corpus))
    # as the trainer on CUDA (on CPU too, so that the tiny CI run exercises the same path)
    spec = SampleSpec(AugmentConfig(img_size=s.img), step.mask_cfg, on_device=True)
    stream = MimStream(index, stats, StreamConfig(seed=0, batch_size=s.batch, shuffle_buffer=256), spec)
    stream.set_position(0, 0)  # endless: epochs repeat
    # forkserver (the trainer's default) on CPU too: a parent whose OpenMP pool already ran
    # (the synthetic steps above) can deadlock a forked child in torch.set_num_threads
    batches = iter(make_loader(stream, workers, pin_memory=device == "cuda", prefetch_factor=4))
    image, mask = prepare(next(batches), device, device == "cuda", spec)  # workers started, first batch in
    step(image, mask)
    waited, start = 0.0, time.perf_counter()
    for _ in range(s.steps):
        tick = time.perf_counter()
        image, mask = prepare(next(batches), device, device == "cuda", spec)
        _sync(device)
        waited += time.perf_counter() - tick
        step(image, mask)
    _sync(device)
    total = time.perf_counter() - start
    del batches
    return s.steps * s.batch / total, waited / total


def run(quick: bool) -> list[Figure]:
    from benchmarks.loader import build

    device = "cuda" if torch.cuda.is_available() else "cpu"
    s = setup(device, quick)
    name = f"gpu ({s.model} {s.img}px {'bf16' if s.amp else 'fp32'} batch {s.batch}, {device})"
    eager, peak = synthetic_rate(s, device, False)
    figures = [
        Figure(name, "synthetic input, s/step", eager, None, "-", "s", None, "compute limit"),
        Figure(name, "synthetic input, img/s", s.batch / eager, None, "-", "img/s", None, "compute limit"),
        Figure(name, "peak device memory", peak, None, "-", "GiB", None, "< device memory"),
    ]
    if s.compile:
        compiled, _ = synthetic_rate(s, device, True)
        figures.append(Figure(name, "torch.compile img/s", s.batch / compiled, s.batch / eager, "eager (same run)",
                              "img/s", eager / compiled, ">= 1"))
    with tempfile.TemporaryDirectory(prefix="ringmo-gpu-") as tmp:
        for fmt in ("png", "jpg"):
            corpus = build(Path(tmp) / fmt, s.tiles, per_shard=64, fmt=fmt)["corpus"]
            enough = None
            for workers in s.workers:
                rate, wait = loader_rate(s, device, corpus, workers)
                figures.append(Figure(name, f"real loader, {fmt}, {workers} workers, img/s", rate, s.batch / eager,
                                      "synthetic input (same run)", "img/s", rate * eager / s.batch, ">= 0.9"))
                figures.append(Figure(name, f"real loader, {fmt}, {workers} workers, data wait", wait, None, "-",
                                      "fraction", None, f"<= {WAIT_OK}"))
                if enough is None and wait <= WAIT_OK:
                    enough = workers
            figures.append(Figure(name, f"loader workers for wait <= 10%, {fmt}",
                                  float(enough) if enough is not None else None, None, "-", "workers", None,
                                  f"of {list(s.workers)} tried"))
    return figures
