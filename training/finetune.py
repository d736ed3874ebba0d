"""Scene classification from a labeled corpus: linear probe or full fine-tune (RingMo recipe).

``ringmo finetune --data LABELED_CORPUS --model NAME --mode linear|full [--checkpoint CKPT |
--init random] --epochs N --out DIR``. The encoder comes from a pretraining checkpoint, any
timm-compatible state dict, or a random init (the baseline that pretraining must beat), is
built at the fine-tuning input size (position tables resized by ``training.weights``), and:

* ``linear``: frozen, features computed once, linear head on them (``training.probe``): by
  default the mean and std of every stage's feature maps (``stages``); ``--probe-features
  pooled`` probes timm's final pooled vector instead (see ``training.probe`` for why the
  default is not the last layer's);
* ``full``: every weight trained, AdamW with layer-wise lr decay (0.65, as RingMo), drop
  path, label smoothing, optional mixup/cutmix, warmup + cosine schedule.

The result is a plain timm classifier (``classifier.safetensors`` + ``classifier.json``; with
``stages`` features a ``training.probe.StageStatsClassifier`` whose card says so), scored on
the val and test splits: ``results.json`` (``top1`` as a fraction, per-class accuracy, macro
F1, confusion matrix) and one confusion PNG per split.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from dataclasses import MISSING, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from catalogs.errors import CheckpointError, ConfigError
from catalogs.options import add_options, load_config, option, values_from
from catalogs.reporting import run_main
from training.evaluate import metrics, predict, write_results
from training.labeled import LabeledImages, band_count, corpus_classes, labeled_rows, make_loader
from training.normalize import manifest_stats_table
from training.probe import (DEFAULT_FEATURES, FEATURES, ProbeConfig, StageStatsClassifier, extract_features,
                            predictions, train_probe)
from training.schedule import Schedule, apply_lr
from training.transforms import AugmentConfig
from training.weights import EncoderWeights, classifier_kwargs, create, load_encoder, read_weights, save_classifier

log = logging.getLogger("training.finetune")
MODES = ("linear", "full")
TASKS = ("classification", "segmentation", "change")
MIN_LR = 1e-6  # full mode: warmup starts and the cosine ends here


@dataclass(frozen=True)
class FinetuneConfig:
    data: str = option(MISSING, "labeled corpus root or URL (ringmo build --labels ...)")
    out: str = option(MISSING, "output directory (classifier, results.json, confusion PNGs)")
    task: str = option("classification", "classification (a --labels corpus), segmentation or change (a --task "
                                          "corpus: FPN decoder, results.json with mIoU / change F1), or detection "
                                          "(its own flags: ringmo finetune --task detection --help)")
    model: str = option("swin_base", "encoder: swin_base (RingMo), swin_tiny, vit_base, vit_tiny, swin_nano, vit_nano")
    mode: str = option("linear", "linear (frozen encoder, linear head) or full (every weight trained)")
    probe_features: str | None = option(None, "linear mode: stages (default: mean and std of every stage's feature "
                                              "maps) or pooled (timm pre-logits, the last stage only)")
    checkpoint: str | None = option(None, "pretraining checkpoint or timm-compatible state dict (or give --init random)")
    init: str = option("checkpoint", "checkpoint, or random (the baseline pretraining must beat)")
    layout: str | None = option(None, "band layout of a mixed-layout checkpoint (default: the one with the data's "
                                      "band count, visible/RGB first)")
    epochs: int = option(30, "training epochs (of the linear head in linear mode)")
    batch_size: int = option(64, "samples per batch")
    lr: float | None = option(None, "peak learning rate (default: linear 0.01, full 1e-3 * batch / 512)")
    weight_decay: float = option(0.05, "AdamW weight decay (full mode)")
    layer_decay: float = option(0.65, "RingMo / BEiT layer-wise lr decay (full mode)")
    drop_path: float = option(0.1, "stochastic depth rate (full mode)")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy (full mode)")
    mixup: float = option(0.0, "mixup alpha (full mode; 0: off)")
    cutmix: float = option(0.0, "cutmix alpha (full mode; 0: off)")
    warmup_epochs: float = option(1.0, "linear warmup before the cosine schedule, in epochs (full mode)")
    scale_min: float = option(0.25, "RandomResizedCrop minimum area (full mode)")
    img_size: int | None = option(None, "input size (default: the model's pretraining size)")
    window_size: int | None = option(None, "Swin window at img_size (RingMo: 7 at 224)")
    train_split: str = option("train", "split the head or the model is trained on")
    val_split: str = option("val", "split that picks the probe's weight decay (linear) or is scored each epoch (full); "
                                "scored at the end too")
    test_split: str = option("test", "split scored after training; its top-1 is the headline result")
    seed: int = option(0, "seed of the init, the head, the sample order and the augmentations")
    num_workers: int = option(0, "data loader worker processes")
    device: str = option("auto", "auto, cpu or cuda")

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.mode not in MODES:
            raise ConfigError("--mode", f"must be one of {MODES}, got {self.mode!r}")
        if self.probe_features is not None and self.probe_features not in FEATURES:
            raise ConfigError("--probe-features", f"must be one of {FEATURES}, got {self.probe_features!r}")
        if self.probe_features is not None and self.mode != "linear":
            raise ConfigError("--probe-features", "applies to --mode linear only")
        if self.init not in ("checkpoint", "random"):
            raise ConfigError("--init", f"must be checkpoint or random, got {self.init!r}")
        if (self.init == "random") == (self.checkpoint is not None):
            raise ConfigError("--checkpoint/--init", "give exactly one of --checkpoint CKPT or --init random")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("--epochs/--batch-size", "epochs and batch size must be >= 1")


def _device(name: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _weights(cfg: FinetuneConfig, in_chans: int | None = None) -> EncoderWeights:
    if cfg.init == "random":
        return EncoderWeights({}, "random", cfg.model)
    weights = read_weights(cfg.checkpoint, cfg.layout, in_chans)
    if weights.model and weights.model != cfg.model:
        raise CheckpointError(cfg.checkpoint, f"holds a {weights.model} encoder, not {cfg.model} (give --model "
                              f"{weights.model})")
    return weights


def build_model(cfg: FinetuneConfig, in_chans: int, num_classes: int) -> tuple[nn.Module, str, dict, dict]:
    """The classifier with its encoder weights loaded: ``(model, arch, kwargs, load report)``."""
    drop_path = cfg.drop_path if cfg.mode == "full" else 0.0
    arch, kwargs = classifier_kwargs(cfg.model, in_chans, num_classes, cfg.img_size, cfg.window_size, drop_path)
    torch.manual_seed(cfg.seed)  # the random init (and the head) are seeded
    model = create(arch, kwargs)
    weights = _weights(cfg, in_chans)
    report = {"source": weights.source, **dict(weights.info)}
    if weights.state:
        if weights.in_chans() not in (None, in_chans):
            raise CheckpointError(cfg.checkpoint, f"the weights take {weights.in_chans()} bands, the data has {in_chans}")
        report.update(load_encoder(model, weights))
    return model, arch, kwargs, report


def _dataset(cfg: FinetuneConfig, split: str, classes, img_size: int, train: bool) -> LabeledImages:
    aug = AugmentConfig(img_size=img_size, scale=(cfg.scale_min, 1.0), train=train)
    return LabeledImages(labeled_rows(cfg.data, split, classes), manifest_stats_table(cfg.data), aug, cfg.seed)


def _has_split(cfg: FinetuneConfig, split: str, classes) -> bool:
    try:
        labeled_rows(cfg.data, split, classes)
    except ValueError:
        return False
    return True


def run_linear(cfg: FinetuneConfig, model: nn.Module, classes, img_size: int,
               device: str) -> tuple[dict, nn.Module]:
    """Frozen features once per split, a linear head, its scores, and the classifier holding it.

    The classifier is ``model`` with the head in its fc (pooled features) or a
    ``StageStatsClassifier`` around ``model`` (stages features).
    """
    features = cfg.probe_features or DEFAULT_FEATURES
    feats = {}
    for split in (cfg.train_split, cfg.val_split, cfg.test_split):
        if split not in feats and _has_split(cfg, split, classes):
            loader = make_loader(_dataset(cfg, split, classes, img_size, False), cfg.batch_size, shuffle=False,
                                 num_workers=cfg.num_workers)
            feats[split] = extract_features(model.to(device), loader, device, features)
    probe = ProbeConfig(epochs=cfg.epochs, lr=cfg.lr or 0.01, seed=cfg.seed)
    head, info = train_probe(feats[cfg.train_split], len(classes), probe, feats.get(cfg.val_split))
    if features == "stages":
        model = StageStatsClassifier(model, head)
    else:
        fc = model.get_classifier()
        with torch.no_grad():
            fc.weight.copy_(head.weight)
            fc.bias.copy_(head.bias)
    scores = {split: metrics(y.numpy(), predictions(head, x), classes) for split, (x, y) in feats.items()
              if split != cfg.train_split}
    return {"probe": {**info, "features": features, "dim": head.in_features}, "splits": scores}, model


def _optimizer(cfg: FinetuneConfig, model: nn.Module, lr: float):
    """AdamW, no decay on norms/biases/position tables, lr scaled by depth (``lr_scale``)."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, opt="adamw", lr=lr, weight_decay=cfg.weight_decay,
                               layer_decay=cfg.layer_decay)


def _mixup(cfg: FinetuneConfig, num_classes: int):
    if not (cfg.mixup or cfg.cutmix):
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, label_smoothing=cfg.label_smoothing,
                 num_classes=num_classes)


def run_full(cfg: FinetuneConfig, model: nn.Module, classes, img_size: int, device: str) -> dict:
    """Fine-tune every weight; validation top-1 after each epoch goes to ``metrics.jsonl``."""
    train = _dataset(cfg, cfg.train_split, classes, img_size, True)
    mix = _mixup(cfg, len(classes))
    loader = make_loader(train, cfg.batch_size, shuffle=True, seed=cfg.seed, num_workers=cfg.num_workers,
                         drop_last=mix is not None and len(train) >= cfg.batch_size)
    val = _dataset(cfg, cfg.val_split, classes, img_size, False) if _has_split(cfg, cfg.val_split, classes) else None
    peak = cfg.lr or 1e-3 * cfg.batch_size / 512
    model = model.to(device)
    optimizer = _optimizer(cfg, model, peak)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    total, warmup = cfg.epochs * len(loader), int(cfg.warmup_epochs * len(loader))
    schedule = Schedule(peak, total, warmup, min_lr=MIN_LR, warmup_start_lr=MIN_LR)
    torch.manual_seed(cfg.seed + 1)  # drop-path and mixup draws
    step, history = 0, []
    with open(Path(cfg.out) / "metrics.jsonl", "w") as log_file:
        for epoch in range(cfg.epochs):
            train.set_epoch(epoch)
            model.train()
            losses = []
            for image, target in loader:
                lr = schedule.lr(step)
                apply_lr(optimizer, lr)
                image, target = image.to(device), target.to(device)  # [B, C, S, S], [B]
                if mix is not None:
                    image, soft = mix(image, target)  # soft: [B, K]
                    loss = torch.sum(-soft * torch.log_softmax(model(image), dim=-1), dim=-1).mean()
                else:
                    loss = criterion(model(image), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                step += 1
            record = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)), "lr": lr}
            if val is not None:
                y_true, y_pred = predict(model, make_loader(val, cfg.batch_size, shuffle=False), device)
                record["val_top1"] = float((y_true == y_pred).mean())
            log_file.write(json.dumps(record) + "\n")
            history.append(record)
    scores = {}
    for split in (cfg.val_split, cfg.test_split):
        if split not in scores and _has_split(cfg, split, classes):
            loader = make_loader(_dataset(cfg, split, classes, img_size, False), cfg.batch_size, shuffle=False)
            scores[split] = metrics(*predict(model, loader, device), classes)
    return {"history": history, "splits": scores}


def run(cfg: FinetuneConfig) -> dict:
    """Fine-tune and score; writes the classifier, ``results.json`` and PNGs under ``cfg.out``."""
    if cfg.task != "classification":
        from training.tasks.dense import run_dense

        return run_dense(cfg)
    started = time.perf_counter()
    out, device = Path(cfg.out), _device(cfg.device)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=True))
    classes = corpus_classes(cfg.data)
    in_chans = band_count(labeled_rows(cfg.data, cfg.train_split, classes))
    model, arch, kwargs, report = build_model(cfg, in_chans, len(classes))
    img_size = kwargs["img_size"]
    if cfg.mode == "linear":
        model.requires_grad_(False)
        outcome, model = run_linear(cfg, model, classes, img_size, device)
    else:
        outcome = run_full(cfg, model, classes, img_size, device)
    card = {"model": cfg.model, "mode": cfg.mode, "classes": list(classes), "img_size": img_size,
            "init": report, "data": cfg.data}
    if isinstance(model, StageStatsClassifier):
        card.update(model.card())
    save_classifier(model.cpu(), arch, kwargs, card, out)
    first = outcome["splits"].get(cfg.test_split) or next(iter(outcome["splits"].values()), None)
    results = {"config": dataclasses.asdict(cfg), "classes": list(classes), "init": report,
               "top1": first["top1"] if first else None, "macro_f1": first["macro_f1"] if first else None,
               "scored_split": cfg.test_split if cfg.test_split in outcome["splits"] else None,
               "seconds": round(time.perf_counter() - started, 1), **outcome}
    results["paths"] = write_results(results, out)
    return results


def build_parser(prog: str = "ringmo finetune") -> argparse.ArgumentParser:
    """Flags named after the ``FinetuneConfig`` fields (``--init random`` for the baseline)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="flat YAML file of these options (flags override it)")
    add_options(parser, FinetuneConfig)
    return parser


def config_from_args(argv: list[str] | None = None, prog: str = "ringmo finetune") -> FinetuneConfig:
    args = build_parser(prog).parse_args(argv)
    values = values_from(args, FinetuneConfig)
    if values.get("init") == "random":
        values.setdefault("checkpoint", None)
    return load_config(FinetuneConfig, args.config, **values)


def task_of(argv: list[str]) -> str:
    """The ``--task`` of a command line (``--task X`` or ``--task=X``; classification when absent)."""
    for i, arg in enumerate(argv):
        if arg == "--task" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--task="):
            return arg.split("=", 1)[1]
    return "classification"


def main(argv: list[str] | None = None, prog: str = "ringmo finetune") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    task = task_of(argv)
    if task == "detection":  # detection owns its flags (boxes, detector settings)
        from training.tasks import detection

        return detection.main(argv, f"{prog} --task detection")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    results = run(config_from_args(argv, prog))
    if results.get("task") in ("segmentation", "change"):
        from training.tasks.dense import TASKS as DENSE

        keys = DENSE[results["task"]].SUMMARY
        print(json.dumps({"task": results["task"], "mode": results["config"]["mode"], "init": results["init"]["source"],
                          **{s: {k: round(r[k], 4) for k in keys} for s, r in results["splits"].items()}}))
        print(f"results: {results['paths']['results']}")
        return 0
    summary = {s: {"top1": round(r["top1"], 4), "macro_f1": round(r["macro_f1"], 4), "n": r["n"]}
               for s, r in results["splits"].items()}
    print(json.dumps({"mode": results["config"]["mode"], "init": results["init"]["source"], **summary}))
    print(f"results: {results['paths']['results']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))  # one-line errors, as `ringmo finetune` reports them
