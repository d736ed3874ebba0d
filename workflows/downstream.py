"""Does pretraining help? Build a labeled corpus, then linear-probe a pretrained and a random encoder.

The same probe (frozen encoder, features, linear head, fixed seeds) runs on both
initializations, so the difference in top-1 is what pretraining bought. The comparison probes
``ringmo finetune``'s default ``stages`` features (mean and std of every Swin stage's / last ViT
blocks' feature maps, see ``training.probe``): after a short MIM run the last layer's mean-pooled vector is
mostly the mean colour (it feeds the pixel decoder) and shows no gain on classes that differ in
texture and layout, while the earlier stages' statistics do. ``ringmo demo`` ends
with this; users run the same comparison on their own labeled set with ``ringmo build
--labels`` + ``ringmo finetune --checkpoint ...`` / ``--init random``.
"""

from __future__ import annotations

from pathlib import Path

from training.finetune import FinetuneConfig, run as run_finetune
from workflows.build import build
from workflows.build_config import BuildConfig

LABELED_SPLIT = (0.5, 0.25, 0.25)  # small sets need sizeable val/test splits to be measured


def build_labeled_corpus(raw_dir: str | Path, corpus: str | Path, *, resize: int | None = None,
                         split: tuple[float, float, float] = LABELED_SPLIT, seed: int = 0,
                         scheduler: str | None = "sync", progress: bool = False) -> dict:
    """``ringmo build RAW CORPUS --labels from-folders``: one whole-image sample per file."""
    config = BuildConfig(inputs=(str(raw_dir),), corpus=str(corpus), labels="from-folders", resize=resize,
                         split=split, seed=seed, scheduler=scheduler)
    summary = build(config, progress=progress)
    return summary


def compare_inits(corpus: str | Path, out_dir: str | Path, pretrain_checkpoint: str | Path, model: str,
                  epochs: int = 100, mode: str = "linear", seed: int = 0, **options) -> dict:
    """Fine-tune twice (pretrained, random) with the same settings; top-1 of each on the test split.

    ``options`` go to ``FinetuneConfig`` (a linear probe probes its default ``stages`` features
    unless ``probe_features`` is given).
    """
    out_dir = Path(out_dir)
    runs = {}
    for name, init in (("pretrained", dict(checkpoint=str(pretrain_checkpoint))), ("random", dict(init="random"))):
        cfg = FinetuneConfig(data=str(corpus), out=str(out_dir / name), model=model, mode=mode, epochs=epochs,
                             seed=seed, **init, **options)
        runs[name] = run_finetune(cfg)
    return {
        "pretrained_top1": runs["pretrained"]["top1"],
        "random_top1": runs["random"]["top1"],
        "pretrained_macro_f1": runs["pretrained"]["macro_f1"],
        "random_macro_f1": runs["random"]["macro_f1"],
        "pretrained_val_top1": runs["pretrained"]["splits"].get("val", {}).get("top1"),
        "random_val_top1": runs["random"]["splits"].get("val", {}).get("top1"),
        "pretrained_results": runs["pretrained"]["paths"]["results"],
        "random_results": runs["random"]["paths"]["results"],
    }


def run_downstream(labeled_raw_dir: str | Path, out_dir: str | Path, pretrain_checkpoint: str | Path,
                   model: str, epochs: int = 100, *, resize: int | None = None, seed: int = 0) -> dict:
    """Build ``out_dir/labeled-corpus`` from a folder-per-class tree and compare the two probes.

    Returns ``{"pretrained_top1", "random_top1", ..., "corpus", "pretrained_results",
    "random_results"}`` (top-1 as fractions of the test split).
    """
    out_dir = Path(out_dir)
    corpus = out_dir / "labeled-corpus"
    summary = build_labeled_corpus(labeled_raw_dir, corpus, resize=resize, seed=seed)
    figures = compare_inits(corpus, out_dir / "finetune", pretrain_checkpoint, model, epochs, seed=seed)
    return {**figures, "corpus": str(corpus), "samples": summary["tiles"]["kept"],
            "split_leaks": summary["leaks"].get("pairs")}
