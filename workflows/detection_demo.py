"""The demo's detection step: sample images with known rotated boxes, built, fine-tuned twice.

Vehicles and buildings drawn as rotated rectangles (``workflows.samples.detection``, DOTA
``labelTxt`` beside each image) go through ``ringmo build --task detection`` (64 px tiles, the
demo encoder's size), then the oriented detector is fine-tuned from the demo's pretrained
encoder and from a random init with the same settings; the DOTA mAP50 of each on the test
split is printed. Users run the same on their data with ``ringmo finetune --task detection``.
"""

from __future__ import annotations

from pathlib import Path

from training.tasks.detection import DetectionConfig, run as run_detection
from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.samples.detection import write_detection_set

DEMO_IMAGES = 8
DEMO_SIDE = 128
DEMO_TILE = 64
DEMO_EPOCHS = 10


def build_detection_corpus(raw: Path, corpus: Path, seed: int = 0) -> dict:
    if not (raw / "labelTxt").exists():
        write_detection_set(raw / "images", raw / "labelTxt", count=DEMO_IMAGES, size=DEMO_SIDE, vehicles=4,
                            buildings=2, seed=seed)
    config = BuildConfig(inputs=(str(raw / "images"),), corpus=str(corpus), task="detection",
                         labels=str(raw / "labelTxt"), tile_size=DEMO_TILE, whole_image=False,
                         split=(0.75, 0.0, 0.25), seed=seed, scheduler="sync")
    return build(config, progress=False)


def compare_detection(out: Path, checkpoint: Path, model: str, epochs: int = DEMO_EPOCHS) -> dict:
    """DOTA mAP50 (oriented boxes) of the pretrained encoder and of random init."""
    corpus = out / "corpus"
    build_detection_corpus(out / "raw", corpus)
    scores = {}
    for name, init in (("pretrained", {"checkpoint": str(checkpoint)}), ("random", {"init": "random"})):
        cfg = DetectionConfig(data=str(corpus), out=str(out / name), boxes="obb", model=model, epochs=epochs,
                              batch_size=4, lr=1e-3, warmup_steps=5, **init)
        result = run_detection(cfg)
        scores[name] = {"map50": result["map50"], "ap_per_class": result["ap_per_class"],
                        "split": result["scored_split"], "results": str(out / name / "results.json")}
    print(f"oriented detection mAP50 on the {scores['random']['split']} split: "
          f"pretrained {scores['pretrained']['map50']:.3f} vs random init {scores['random']['map50']:.3f}")
    return scores
