"""Streaming MIM pretraining: ``python -m training.pretrain`` / ``torchrun -m training.pretrain``.

One loop for one process and for DDP (torchrun's environment decides). A step consumes
``accum`` consecutive batches of the stream (crossing epoch boundaries if needed), so the stream
position is always a batch count; a checkpoint stores it with the model, optimizer, scaler,
step and RNG states, and rerunning with the same ``--out`` resumes from there: the remaining
batches, masks and augmentations are exactly those an uninterrupted run would have seen (the
learning-rate schedule follows the current ``--steps``, so extending a run re-stretches it).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import fields, replace
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from catalogs.errors import ConfigError
from catalogs.reporting import run_main
from training import checkpoint, distributed
from training.config import PretrainConfig, config_from_args, query_of, resume_fixed, to_dict
from training.data import MimStream, SampleSpec, make_loader, open_source, prepare, probe_bands, run_layouts
from training.index import corpus_of_shards
from training.masking import MaskConfig
from training.metrics import JsonlLog, Throughput
from training.models import MaskedImageModel, model_spec, parameter_groups
from training.objectives import masked_l1
from training.plan import StreamConfig
from training.schedule import Schedule, apply_lr, peak_lr
from training.transforms import AugmentConfig
from training.visualize import save_grid

__all__ = ["PretrainConfig", "demo_config", "main", "run"]

log = logging.getLogger("training.pretrain")

def _specs(cfg: PretrainConfig) -> tuple[MaskConfig, SampleSpec, StreamConfig]:
    mask = MaskConfig(cfg.mask, cfg.mask_patch, cfg.mask_ratio, cfg.pixel_ratio)
    size = cfg.img_size or model_spec(cfg.model).img_size
    spec = SampleSpec(AugmentConfig(img_size=size, scale=(cfg.scale_min, 1.0), rot90=cfg.rot90), mask)
    stream = StreamConfig(cfg.seed, cfg.batch_size, cfg.shuffle_buffer, cfg.resampled, cfg.epoch_samples,
                          cfg.layout_alpha)
    return mask, spec, stream


def _precision(cfg: PretrainConfig, device: str) -> torch.dtype | None:
    """Autocast dtype, or None for fp32 (the default on CPU)."""
    choice = cfg.precision if cfg.precision != "auto" else ("bf16" if device.startswith("cuda") else "fp32")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[choice]


def _check_resume(saved: dict, cfg: PretrainConfig) -> None:
    current = to_dict(cfg)
    defaults = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                for f in fields(PretrainConfig)}  # a setting older runs did not record had its default
    changed = [k for k in resume_fixed() if saved.get(k, defaults.get(k)) != current.get(k)]
    if changed:
        raise ConfigError(cfg.out, f"holds a run with other {changed}; use another --out to start afresh")


class Trainer:
    """The model, optimizer and loop state of one rank."""

    def __init__(self, cfg: PretrainConfig, info: distributed.DistInfo, in_chans: int, layouts: tuple = ()):
        self.cfg, self.info, self.layouts = cfg, info, tuple(layouts)
        mask, spec, _ = _specs(cfg)
        # on a GPU the loader workers only decode; crop, flips and masks run batched in prepare
        self.spec = replace(spec, on_device=info.device.startswith("cuda"))
        torch.manual_seed(cfg.seed)  # same init on every rank (DDP also broadcasts rank 0's)
        self.model = MaskedImageModel(cfg.model, in_chans, mask, cfg.img_size, self.layouts, cfg.embed).to(info.device)
        self.channels_last = cfg.channels_last and info.device.startswith("cuda")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, cfg.weight_decay),
                                           lr=cfg.warmup_lr, betas=(cfg.beta1, cfg.beta2))
        self.amp_dtype = _precision(cfg, info.device)
        device_type = "cuda" if info.device.startswith("cuda") else "cpu"
        self.scaler = torch.amp.GradScaler(device_type, enabled=self.amp_dtype == torch.float16)
        self.device_type = device_type
        self.step, self.position = 0, (0, 0)
        self.skipped, self.bad_steps, self.bad_run = 0, 0, 0  # broken samples; non-finite steps (all, in a row)
        self.interval = [0.0, 0]  # sum and count of the finite step losses since the last log line
        torch.manual_seed(cfg.seed * 1000 + info.rank + 1)  # drop-path draws differ per rank
        self.net = self.model

    def interval_loss(self) -> float | None:
        """Mean loss of the finite steps since the last call (None when every one was skipped).

        A log line averages its whole interval, as MAE's and timm's meters do: a mixed-layout run
        interleaves layouts whose losses differ in scale, so one batch's loss says little.
        """
        total, count = self.interval
        self.interval = [0.0, 0]
        return total / count if count else None

    def wrap(self) -> None:
        """DDP and compile after the states are loaded."""
        if self.info.world > 1:
            ids = [self.info.local_rank] if self.info.device.startswith("cuda") else None
            # a step runs one layout on every rank: the other layouts' inputs and heads get no gradient
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=self.model.stem is not None)
        if self.cfg.compile:
            self.net = torch.compile(self.net)

    def state(self, rng_states: list) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "step": self.step,
                "position": {"epoch": self.position[0], "batch": self.position[1]},
                "world": self.info.world, "rng": rng_states, "config": to_dict(self.cfg),
                "layouts": [layout.to_dict() for layout in self.layouts],
                "faults": {"skipped": self.skipped, "bad_steps": self.bad_steps, "bad_run": self.bad_run},
                "interval": list(self.interval)}

    def load(self, saved: dict) -> None:
        _check_resume(saved["config"], self.cfg)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scaler.load_state_dict(saved["scaler"])
        self.step = int(saved["step"])
        faults = saved.get("faults", {})  # absent from checkpoints written before fault counting
        self.skipped, self.bad_steps, self.bad_run = (int(faults.get(k, 0)) for k in ("skipped", "bad_steps", "bad_run"))
        # a resumed run's next metrics line averages the same steps as an uninterrupted one's
        self.interval = [float(v) for v in saved.get("interval", (0.0, 0))]
        epoch, batch = int(saved["position"]["epoch"]), int(saved["position"]["batch"])
        if saved["world"] == self.info.world:
            checkpoint.set_rng_state(saved["rng"][self.info.rank])
        else:  # another world size: another plan; continue at the same fraction of the epoch
            log.warning("resuming on %d ranks a run saved on %d: data order is not replayed exactly",
                        self.info.world, saved["world"])
            batch = batch * saved["world"] // self.info.world
        self.position = (epoch, batch)

    def train_step(self, micro: list[dict], lr: float) -> tuple[torch.Tensor, dict]:
        """One optimizer step over ``accum`` micro-batches; returns (mean loss, last outputs).

        A non-finite loss (on any rank) skips the update: gradients are dropped and the
        optimizer and grad-scaler states stay as they were; the step still counts (the data and
        the schedule move on, so resume stays exact). ``max_bad_steps`` in a row stop the run.
        """
        apply_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.info.device)
        norm_patch = self.cfg.mask_patch if self.cfg.norm_target else None
        for i, batch in enumerate(micro):
            image, mask = prepare(batch, self.info.device, self.channels_last, self.spec)  # [B, C, H, W], [B, H, W]
            last = i == len(micro) - 1
            sync = self.net.no_sync() if (self.info.world > 1 and not last) else nullcontext()
            with sync:
                with torch.autocast(self.device_type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    recon = self.net(image, mask, batch.get("layout", 0))  # [B, C, H, W]
                    loss = masked_l1(recon, image, mask, norm_patch) / len(micro)
                self.scaler.scale(loss).backward()
            total += loss.detach()
        self.skipped += sum(len(b.get("skipped", ())) for b in micro)
        self.step += 1
        if not self._finite(distributed.mean(total)):
            return total, {"image": image, "mask": mask, "recon": recon.detach()}
        self.scaler.unscale_(self.optimizer)
        if self.cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return total, {"image": image, "mask": mask, "recon": recon.detach()}

    def _finite(self, loss: torch.Tensor) -> bool:
        """Whether the step's loss (mean over ranks, so every rank gives the same verdict) is
        finite; adds it to the logged interval, or counts (and past the limit refuses) a bad step."""
        if bool(torch.isfinite(loss)):
            self.bad_run = 0
            self.interval = [self.interval[0] + float(loss), self.interval[1] + 1]
            return True
        self.optimizer.zero_grad(set_to_none=True)
        self.bad_steps += 1
        self.bad_run += 1
        log.warning("step %d: non-finite loss, optimizer step skipped (%d in a row)", self.step, self.bad_run)
        limit = self.cfg.max_bad_steps
        if limit and self.bad_run >= limit:
            raise RuntimeError(f"the loss was not finite for {self.bad_run} consecutive steps (steps "
                               f"{self.step - self.bad_run + 1}..{self.step}); lower the learning rate "
                               "(--base-lr, --warmup-steps, --clip-grad) or check the data for broken samples")
        return False


def _batches(dataset: MimStream, loader, position: tuple[int, int]):
    """Endless ``(batch, position after it)`` across epochs, from ``position``."""
    dataset.set_position(*position)
    expected = iter(dataset.positions())
    for batch in loader:
        if (batch["epoch"], batch["batch"]) != next(expected):  # the round-robin contract
            raise RuntimeError(f"loader yielded batch {batch['batch']} of epoch {batch['epoch']} out of order")
        yield batch, (batch["epoch"], batch["batch"] + 1)


def _schedule(cfg: PretrainConfig, world: int) -> Schedule:
    peak = peak_lr(cfg.base_lr, cfg.batch_size * world * cfg.accum, cfg.steps, cfg.lr_floor)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else cfg.steps // 10
    return Schedule(peak, cfg.steps, warmup, cfg.min_lr, cfg.warmup_lr)


def _save(trainer: Trainer, out: Path) -> None:
    states = distributed.gather_objects(checkpoint.rng_state())  # collective: every rank calls it
    if trainer.info.main:
        checkpoint.save_atomic(trainer.state(states), out / "checkpoints" / checkpoint.LAST)


def _picture(out: Path, step: int, outputs: dict) -> Path:
    path = save_grid(out / "recon" / f"step_{step:07d}.png", outputs["image"], outputs["mask"], outputs["recon"])
    save_grid(out / "reconstruction.png", outputs["image"], outputs["mask"], outputs["recon"])
    return path


def _setup(cfg: PretrainConfig, info: distributed.DistInfo):
    """Data source, trainer (resumed if the run directory has a checkpoint), loader."""
    out = Path(cfg.out)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    index, stats = open_source(corpus=cfg.corpus, shards=list(cfg.shards) or None,
                               query=query_of(cfg) if cfg.corpus else None, cache_dir=str(out / "shard-index"))
    _, spec, stream = _specs(cfg)
    layouts = run_layouts(index, cfg.corpus or corpus_of_shards(index.urls))  # () for a bare shard list
    bands = layouts[0].bands if layouts else probe_bands(index)
    if not layouts:
        spec = replace(spec, bands=bands)  # a sample with another band count is broken, skipped
    trainer = Trainer(cfg, info, bands, layouts)
    spec = replace(spec, on_device=trainer.spec.on_device)
    saved = checkpoint.latest(out)
    if saved is not None:
        trainer.load(checkpoint.load(saved))
    trainer.wrap()
    dataset = MimStream(index, stats, stream, spec, info.rank, info.world, cfg.max_gap, layouts)
    loader = make_loader(dataset, cfg.num_workers, info.device.startswith("cuda"), cfg.prefetch)
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=True))
    return trainer, dataset, loader


def _metrics(trainer: Trainer, lr: float, speed: Throughput) -> dict:
    rates = speed.summary()
    return {"step": trainer.step, "epoch": trainer.position[0], "batch": trainer.position[1],
            "loss": trainer.interval_loss(), "lr": lr,
            "img_s": rates["img_s"] * trainer.info.world, "data_wait": rates["data_wait"], "time": time.time(),
            "skipped": _total(trainer.skipped, trainer.info),
            "bad_steps": trainer.bad_steps}


def _total(count: int, info: distributed.DistInfo) -> int:
    """A per-rank count summed over ranks."""
    value = torch.tensor(float(count), dtype=torch.float64, device=info.device)
    return round(float(distributed.mean(value)) * info.world)


def _log(record: dict, trainer: Trainer, metrics: JsonlLog | None, bar, show_bar: bool) -> None:
    shown = record["loss"] if record["loss"] is not None else math.nan
    bar.set_postfix(loss=f"{shown:.4f}", img_s=f"{record['img_s']:.1f}")
    if trainer.info.main and not show_bar and trainer.cfg.progress:
        log.info("step %d/%d loss %.4f lr %.2e %.1f img/s data wait %.0f%% skipped %d bad steps %d",
                 trainer.step, trainer.cfg.steps, shown, record["lr"], record["img_s"], 100 * record["data_wait"],
                 record["skipped"], record["bad_steps"])
    if metrics is not None:
        metrics.write(record)


def _train(cfg: PretrainConfig, info: distributed.DistInfo) -> dict:
    trainer, dataset, loader = _setup(cfg, info)
    out, schedule = Path(cfg.out), _schedule(cfg, info.world)
    metrics = JsonlLog(out / "metrics.jsonl", trainer.step) if info.main else None
    keys = JsonlLog(out / "keys" / f"rank{info.rank}.jsonl", trainer.step) if cfg.log_keys else None
    show_bar = info.main and cfg.progress and sys.stderr.isatty()  # a log file gets metric lines instead
    bar = tqdm(total=cfg.steps, initial=trainer.step, disable=not show_bar, desc="pretrain")
    stream, speed = _batches(dataset, loader, trainer.position), Throughput()
    picture, outputs = None, None
    try:
        while trainer.step < cfg.steps and trainer.step != cfg.stop_after:
            micro = []
            for _ in range(cfg.accum):
                tick = time.perf_counter()
                batch, trainer.position = next(stream)
                speed.waited(time.perf_counter() - tick)
                micro.append(batch)
            lr = schedule.lr(trainer.step)
            _, outputs = trainer.train_step(micro, lr)
            speed.add(sum(len(b["key"]) for b in micro))
            if keys is not None:
                keys.write({"step": trainer.step, "epoch": micro[0]["epoch"],
                            "batches": [b["batch"] for b in micro], "keys": [k for b in micro for k in b["key"]]})
            if trainer.step % cfg.log_every == 0 or trainer.step == cfg.steps:
                _log(_metrics(trainer, lr, speed), trainer, metrics, bar, show_bar)
                speed.reset()
            if info.main and cfg.image_every and trainer.step % cfg.image_every == 0:
                picture = _picture(out, trainer.step, outputs)
            if trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps:
                _save(trainer, out)
            bar.update(1)
    finally:  # a run stopped by an error still ends its loader workers and flushes its logs
        stream.close()  # ends the loader's worker processes now
        bar.close()
        for handle in (metrics, keys):
            if handle is not None:
                handle.close()
    if info.main and outputs is not None and trainer.step == cfg.steps:
        picture = _picture(out, trainer.step, outputs)
    return {"run_dir": str(out), "steps": trainer.step, "picture": str(picture) if picture else None}


def demo_config(corpus: str, out: str, steps: int = 300, sensors: tuple[str, ...] = ("aerial",)) -> PretrainConfig:
    """A CPU-sized RingMo run for ``ringmo demo``: Swin-nano at 64 px, PIMask, a minute or two.

    The learning rate is the default rule's (``training.schedule.peak_lr``): at batch 32 over
    300 steps its floor gives a 4.6e-4 peak. The mask patch is the model's default (16 px
    for Swin-nano, ``training.models.ModelSpec.mask_patch``). With 300 steps the ``stages`` linear probe of
    ``workflows.downstream`` beats random init on the labeled sample set; 150 steps at batch 16
    gave a gain on validation but none on test.
    """
    return PretrainConfig(out=out, corpus=corpus, sensors=tuple(sensors), model="swin_nano", steps=steps,
                          batch_size=32,
                          num_workers=1, log_every=10, checkpoint_every=max(1, steps // 2), image_every=max(1, steps // 3),
                          shuffle_buffer=200)


def run(cfg: PretrainConfig) -> dict:
    """Train (or resume) the run ``cfg.out``; returns ``{"run_dir", "steps", "picture"}``."""
    info = distributed.init(cfg.device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _train(cfg, info)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        distributed.shutdown()


def main(argv: list[str] | None = None, prog: str = "python -m training.pretrain") -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(config_from_args(argv, prog))
    if summary["picture"] and int(os.environ.get("RANK", "0")) == 0:
        print(f"reconstruction picture: {summary['picture']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))  # one-line errors, as `ringmo pretrain` reports them
