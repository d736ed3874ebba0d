"""Object detection fine-tuning: ``ringmo finetune --task detection --boxes hbb|obb``.

``ringmo finetune --task detection --boxes hbb|obb --data LABELED --model NAME (--checkpoint
CKPT | --init random) --epochs N --out DIR`` fine-tunes a detector on a corpus built with
``ringmo build --task detection``: torchvision's FCOS for horizontal boxes, the rotated FCOS of
``training.tasks.detection_models`` for oriented ones, both on our timm encoder through a
feature pyramid. Tile predictions are put back on their whole images (tile offset and scale,
then NMS across tiles) and scored there with the DOTA protocol, as DOTA evaluates whole images
(``training.tasks.detection_metrics``); horizontal boxes also get COCO AP/AP50.
``DIR/results.json`` holds ``map50``, ``ap_per_class`` (and ``coco_ap``, ``coco_ap50`` for
hbb); ``DIR/predictions.png`` draws predictions on a few tiles.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import MISSING, dataclass
from pathlib import Path

import torch
import yaml

from catalogs.errors import UsageError

from training.config import option
from training.models import model_spec
from training.normalize import manifest_stats_table
from training.tasks.detection_data import DetectionTiles, detection_classes, detection_rows, make_loader
from training.tasks.detection_merge import merge_tiles, save_predictions_png
from training.tasks.detection_metrics import coco_ap, dota_map
from training.tasks.detection_models import PyramidBackbone, RotatedFCOS, build_fcos
from training.tasks.loop import LoopConfig, train
from training.weights import EncoderWeights, classifier_kwargs, create, load_encoder, read_weights

BOXES = ("hbb", "obb")


@dataclass(frozen=True)
class DetectionConfig:
    data: str = option(MISSING, "detection corpus root or URL (ringmo build --task detection ...)")
    out: str = option(MISSING, "output directory (detector.pt, results.json, predictions.png)")
    task: str = option("detection", "the fine-tuning task (this module: detection)")
    boxes: str = option("obb", "hbb (horizontal, torchvision FCOS) or obb (oriented, rotated FCOS)")
    model: str = option("swin_base", "encoder: swin_base (RingMo), swin_tiny, vit_base, vit_tiny, swin_nano, vit_nano")
    checkpoint: str | None = option(None, "pretraining checkpoint or timm-compatible state dict "
                                          "(or give --init random)")
    init: str = option("checkpoint", "checkpoint, or random (the baseline pretraining must beat)")
    epochs: int = option(12, "training epochs")
    batch_size: int = option(8, "tiles per batch")
    lr: float = option(2e-4, "peak AdamW learning rate")
    encoder_lr_scale: float = option(0.5, "encoder learning rate as a fraction of the heads'")
    weight_decay: float = option(0.05, "AdamW weight decay")
    warmup_steps: int = option(50, "linear warmup steps")
    img_size: int | None = option(None, "input side; samples are letterboxed to it (default: the longest sample "
                                        "side, rounded up to a multiple of 32)")
    fpn_channels: int | None = option(None, "feature pyramid channels (default: 64 for nano models, else 256)")
    train_split: str = option("train", "split the detector is trained on")
    eval_split: str = option("test", "split scored at the end (train when it is empty; results say which)")
    score_thresh: float = option(0.05, "detections below this score are dropped before NMS")
    seed: int = option(0, "seed of the init, the sample order and the flips")
    num_workers: int = option(0, "data loader worker processes")
    device: str = option("auto", "auto, cpu or cuda")

    def __post_init__(self):
        if self.task != "detection":
            raise ValueError(f"this is the detection task, got --task {self.task}")
        if self.boxes not in BOXES:
            raise ValueError(f"boxes must be one of {BOXES}, got {self.boxes!r}")
        if self.init not in ("checkpoint", "random"):
            raise ValueError(f"init must be checkpoint or random, got {self.init!r}")
        if (self.init == "random") == (self.checkpoint is not None):
            raise ValueError("give exactly one of --checkpoint CKPT or --init random")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be >= 1")


def build_detector(cfg: DetectionConfig, in_chans: int, num_classes: int, img_size: int):
    """``(detector, load report)``: our encoder (weights loaded) in a pyramid, then the head."""
    arch, kwargs = classifier_kwargs(cfg.model, in_chans, 0, img_size)
    torch.manual_seed(cfg.seed)
    encoder = create(arch, kwargs)
    weights = EncoderWeights({}, "random", cfg.model) if cfg.init == "random" else read_weights(cfg.checkpoint)
    if weights.model and weights.model != cfg.model:
        raise ValueError(f"{cfg.checkpoint} holds a {weights.model} encoder, not {cfg.model}")
    report = {"source": weights.source}
    if weights.state:
        if weights.in_chans() not in (None, in_chans):
            raise ValueError(f"the weights take {weights.in_chans()} bands, the data has {in_chans}")
        report.update(load_encoder(encoder, weights))
    channels = cfg.fpn_channels or (64 if cfg.model.endswith("nano") else 256)
    backbone = PyramidBackbone(encoder, model_spec(cfg.model).family, channels)
    if cfg.boxes == "hbb":
        return build_fcos(backbone, num_classes, img_size, in_chans), report
    return RotatedFCOS(backbone, num_classes, score_thresh=cfg.score_thresh), report


def _training_targets(targets: list[dict], boxes: str, device: str) -> list[dict]:
    """torchvision FCOS has no ignore flag: ignored objects are left out of its targets."""
    if boxes == "obb":
        return [{k: t[k].to(device) for k in ("obb", "labels", "ignore")} for t in targets]
    return [{"boxes": t["hbb"][~t["ignore"]].to(device), "labels": t["labels"][~t["ignore"]].to(device)}
            for t in targets]


def loss_fn(boxes: str, device: str):
    def loss_of(model, batch):
        image, targets = batch
        return model(image.to(device), _training_targets(targets, boxes, device))
    return loss_of


@torch.no_grad()
def predict(model, dataset: DetectionTiles, batch_size: int, device: str) -> list[tuple[dict, dict]]:
    """Per tile, in dataset order: detections ``{"boxes", "scores", "labels"}`` (numpy, input
    pixels) and the tile's target."""
    model.eval()
    out = []
    for image, targets in make_loader(dataset, batch_size, shuffle=False):
        for det, target in zip(model(image.to(device)), targets):
            out.append(({"boxes": det["boxes"].double().cpu().numpy(), "scores": det["scores"].float().cpu().numpy(),
                         "labels": det["labels"].cpu().numpy()}, target))
    return out


def score(model, dataset: DetectionTiles, cfg: DetectionConfig, classes, device: str) -> tuple[dict, list]:
    """Whole-image DOTA mAP (+ COCO for hbb) of the model on ``dataset``; also the tile predictions."""
    tiles = predict(model, dataset, cfg.batch_size, device)
    gts, dets = merge_tiles(dataset, tiles, cfg.boxes)
    result = dota_map(gts, dets, classes)
    if cfg.boxes == "hbb":
        result.update(coco_ap(gts, dets, classes))
    result["images"] = len(gts)
    return result, tiles


def _has_split(data: str, split: str, classes) -> bool:
    try:
        detection_rows(data, split, classes)
    except ValueError:
        return False
    return True


def _default_side(rows) -> int:
    """The longest sample side, rounded up to the pyramid's coarsest stride (32)."""
    side = max(max(int(t["width"]), int(t["height"])) for t in rows.tiles)
    return -(-side // 32) * 32


def run(cfg: DetectionConfig) -> dict:
    started = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=True))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    classes, stats = detection_classes(cfg.data), manifest_stats_table(cfg.data)
    rows = detection_rows(cfg.data, cfg.train_split, classes)
    img_size = cfg.img_size or _default_side(rows)
    train_set = DetectionTiles(rows, stats, img_size, train=True, seed=cfg.seed)
    in_chans = int(rows.tiles[0]["band_count"])
    model, report = build_detector(cfg, in_chans, len(classes), img_size)
    loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=cfg.seed, num_workers=cfg.num_workers)
    loop = LoopConfig(epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
                      warmup_steps=min(cfg.warmup_steps, cfg.epochs * len(loader) // 4),
                      encoder_lr_scale=cfg.encoder_lr_scale, seed=cfg.seed)
    history = train(model, loader, loss_fn(cfg.boxes, device), loop, out, device)
    split = cfg.eval_split if _has_split(cfg.data, cfg.eval_split, classes) else cfg.train_split
    eval_set = DetectionTiles(detection_rows(cfg.data, split, classes), stats, img_size, train=False)
    scores, tiles = score(model, eval_set, cfg, classes, device)
    torch.save({"model": model.cpu().state_dict(), "config": dataclasses.asdict(cfg), "classes": list(classes),
                "img_size": img_size, "in_chans": in_chans}, out / "detector.pt")
    results = {"config": dataclasses.asdict(cfg), "classes": list(classes), "init": report, "boxes": cfg.boxes,
               "scored_split": split, "img_size": img_size, **scores, "history": history,
               "seconds": round(time.perf_counter() - started, 1)}
    results["predictions_png"] = str(save_predictions_png(eval_set, tiles, cfg.boxes, classes, out / "predictions.png"))
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    return results


def build_parser(prog: str = "ringmo finetune --task detection") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="flat YAML file of these options (flags override it)")
    for f in dataclasses.fields(DetectionConfig):
        kind = {"int": int, "float": float}.get(str(f.type).replace(" | None", ""), str)
        extra = {"choices": BOXES} if f.name == "boxes" else {}
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=argparse.SUPPRESS,
                            help=f.metadata["help"].replace("%", "%%"), **extra)
    return parser


def config_from_args(argv: list[str] | None = None, prog: str = "ringmo finetune --task detection") -> DetectionConfig:
    args = vars(build_parser(prog).parse_args(argv))
    values = {}
    path = args.pop("config", None)
    if path:
        values.update(yaml.safe_load(Path(path).read_text()) or {})
    values.update(args)
    missing = [k for k in ("data", "out") if not values.get(k)]
    if missing:
        raise UsageError(" ".join(f"--{k}" for k in missing), "required")
    return DetectionConfig(**values)


def main(argv: list[str] | None = None, prog: str = "ringmo finetune --task detection") -> int:
    results = run(config_from_args(argv, prog))
    summary = {"boxes": results["boxes"], "init": results["init"]["source"], "split": results["scored_split"],
               "map50": None if results["map50"] is None else round(results["map50"], 4)}
    if results["boxes"] == "hbb":
        summary.update(coco_ap=results["coco_ap"], coco_ap50=results["coco_ap50"])
    print(json.dumps(summary))
    print(f"results: {Path(results['config']['out']) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
