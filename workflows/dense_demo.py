"""The demo's dense step: segmentation and change detection, pretrained vs random init.

The sample sets (``workflows.samples.dense``) go through ``ringmo build --task ...`` into two
dense corpora, and each is fine-tuned twice with the same settings and seeds: from the demo's
pretraining checkpoint and from a random init. The difference in test mIoU / change F1 is what
the short pretraining bought (on a CPU budget of seconds, so expect small differences).
"""

from __future__ import annotations

from pathlib import Path

from training.finetune import FinetuneConfig, run as run_finetune
from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.samples.dense import write_change_set, write_segmentation_set

DENSE_TILE = 64
DENSE_SPLIT = (0.5, 0.25, 0.25)
DENSE_EPOCHS = 4
HEADLINE = {"segmentation": "miou", "change": "f1"}


def write_dense_samples(out: Path, seed: int = 0) -> dict[str, Path]:
    """The segmentation set under ``out/segmentation`` and the change set under ``out/change``."""
    write_segmentation_set(out / "segmentation", count=8, size=128, seed=seed)
    write_change_set(out / "change", count=8, size=128, seed=seed)
    return {"segmentation": out / "segmentation", "change": out / "change"}


def build_dense_corpora(samples: dict[str, Path], out: Path, seed: int = 0) -> dict[str, Path]:
    """``ringmo build --task segmentation`` and ``--task change`` of the sample sets."""
    seg, change = samples["segmentation"], samples["change"]
    common = dict(scheduler="sync", tile_size=DENSE_TILE, split=DENSE_SPLIT, seed=seed)
    configs = {
        "segmentation": BuildConfig(inputs=(str(seg / "img_dir"),), corpus=str(out / "segmentation"),
                                    task="segmentation", masks=str(seg / "ann_dir"),
                                    classes=str(seg / "classes.txt"), **common),
        "change": BuildConfig(inputs=(str(change / "A"),), corpus=str(out / "change"), task="change",
                              pair=str(change / "B"), masks=str(change / "label"), **common),
    }
    for config in configs.values():
        build(config, progress=False)
    return {task: Path(config.corpus) for task, config in configs.items()}


def compare_dense(corpus: Path, out: Path, task: str, checkpoint: str | Path, model: str,
                  epochs: int = DENSE_EPOCHS, seed: int = 0) -> dict:
    """Fine-tune ``task`` from ``checkpoint`` and from random init; the headline of each."""
    figures = {}
    for name, init in (("pretrained", dict(checkpoint=str(checkpoint))), ("random", dict(init="random"))):
        cfg = FinetuneConfig(data=str(corpus), out=str(out / task / name), task=task, model=model, mode="full",
                             epochs=epochs, batch_size=8, lr=1e-3, warmup_epochs=0.0, drop_path=0.0, seed=seed,
                             **init)
        result = run_finetune(cfg)
        figures[name] = result[HEADLINE[task]]
        figures[f"{name}_results"] = result["paths"]["results"]
    return figures


def run_dense_demo(out: Path, checkpoint: str | Path, model: str) -> dict:
    """Samples, corpora and both comparisons; prints mIoU and change F1 of each init."""
    corpora = build_dense_corpora(write_dense_samples(out / "samples"), out / "corpora")
    results = {}
    for task, corpus in corpora.items():
        figures = compare_dense(corpus, out / "finetune", task, checkpoint, model)
        label = "segmentation mIoU" if task == "segmentation" else "change detection F1"
        print(f"{label} on the test split: pretrained {figures['pretrained']:.3f} "
              f"vs random init {figures['random']:.3f}")
        results[task] = figures
    return results
