"""Scene-classification metrics: top-1, per-class accuracy, macro F1, confusion matrix (JSON + PNG).

``metrics`` is a pure function of true and predicted class indexes; ``predict`` runs a
classifier over a labeled split; ``evaluate`` is ``ringmo evaluate``: a fine-tuned classifier
directory (``training.finetune`` output) scored on splits of a labeled corpus. ``top1`` is a
fraction in [0, 1], as every other figure here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from catalogs.reporting import run_main
from training.labeled import LabeledImages, labeled_rows, make_loader
from training.normalize import manifest_stats_table
from training.transforms import AugmentConfig
from training.weights import load_classifier


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``[K, K]`` counts, rows = true class, columns = predicted class."""
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return out


def metrics(y_true, y_pred, classes: list[str] | tuple[str, ...]) -> dict:
    """``{"top1", "macro_f1", "per_class": {name: {"accuracy", "f1", "support"}}, "confusion", "n"}``.

    Per-class accuracy is recall (correct / support); a class absent from ``y_true`` has no
    accuracy (None) and is left out of the macro F1, as scikit-learn does with zero support.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    matrix = confusion(y_true, y_pred, len(classes))
    hits = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(1).astype(np.float64), matrix.sum(0).astype(np.float64)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(hits), where=(precision + recall) > 0)
    present = support > 0
    return {
        "n": int(y_true.shape[0]),
        "top1": float(hits.sum() / max(1, y_true.shape[0])),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {name: {"accuracy": float(recall[i]) if present[i] else None, "f1": float(f1[i]),
                             "support": int(support[i])} for i, name in enumerate(classes)},
        "confusion": matrix.tolist(),
    }


def save_confusion_png(matrix, classes, path: str | Path, title: str = "") -> Path:
    """The confusion matrix, row-normalized colours with counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    side = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@torch.no_grad()
def predict(model: torch.nn.Module, loader, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` of a classifier over a loader of ``(image, target)`` batches."""
    model.eval()
    truth, guess = [], []
    for image, target in loader:
        logits = model(image.to(device))  # [B, K]
        guess.append(logits.argmax(1).cpu().numpy())
        truth.append(np.asarray(target))
    return np.concatenate(truth), np.concatenate(guess)


def score_split(model, corpus: str, split: str, classes, img_size: int, batch_size: int = 64,
                num_workers: int = 0, device: str = "cpu") -> dict:
    """Metrics of ``model`` on one split of a labeled corpus (images resized, no augmentation)."""
    rows = labeled_rows(corpus, split, tuple(classes))
    dataset = LabeledImages(rows, manifest_stats_table(corpus), AugmentConfig(img_size=img_size, train=False))
    y_true, y_pred = predict(model, make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers), device)
    return metrics(y_true, y_pred, classes)


def write_results(results: dict, out: str | Path, prefix: str = "") -> dict:
    """``results.json`` plus one confusion PNG per scored split; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, scored in results.get("splits", {}).items():
        png = save_confusion_png(scored["confusion"], results["classes"], out / f"{prefix}confusion_{split}.png",
                                 f"{split}: top-1 {scored['top1']:.3f}, macro F1 {scored['macro_f1']:.3f}")
        paths[f"confusion_{split}"] = str(png)
    target = out / f"{prefix}results.json"
    target.write_text(json.dumps({**results, "files": paths}, indent=2, sort_keys=True) + "\n")
    paths["results"] = str(target)
    return paths


def evaluate(classifier_dir: str, corpus: str, splits: tuple[str, ...] = ("test",), out: str | None = None,
             batch_size: int = 64, num_workers: int = 0) -> dict:
    """Score a fine-tuned classifier on ``splits`` of ``corpus``; write ``results.json`` + PNGs."""
    model, card = load_classifier(classifier_dir)
    classes = card["classes"]
    results = {"classifier": str(classifier_dir), "data": str(corpus), "classes": classes,
               "splits": {s: score_split(model, corpus, s, classes, card["img_size"], batch_size, num_workers)
                          for s in splits}}
    first = results["splits"][splits[0]]
    results.update(top1=first["top1"], macro_f1=first["macro_f1"])
    results["paths"] = write_results(results, out or classifier_dir, prefix="eval_")
    return results


def build_parser(prog: str = "ringmo evaluate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Score a fine-tuned classifier on a labeled corpus.")
    parser.add_argument("--classifier", required=True, help="a `ringmo finetune --out` directory (any task)")
    parser.add_argument("--data", required=True, help="labeled corpus (ringmo build --labels ...)")
    parser.add_argument("--split", action="append", help="split to score (repeatable; default test)")
    parser.add_argument("--out", help="where results.json and the PNGs go (default: the classifier dir)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per batch")
    parser.add_argument("--num-workers", type=int, default=0, help="data loader worker processes")
    return parser


def main(argv: list[str] | None = None, prog: str = "ringmo evaluate") -> int:
    args = build_parser(prog).parse_args(argv)
    if (Path(args.classifier) / "model.json").exists():  # a segmentation / change model
        from training.tasks.dense import TASKS, evaluate_dense

        results = evaluate_dense(args.classifier, args.data, tuple(args.split or ("test",)), args.out,
                                 args.batch_size)
        keys = TASKS[results["task"]].SUMMARY
        print(json.dumps({s: {k: r[k] for k in keys} for s, r in results["splits"].items()}))
        print(f"results: {results['paths']['results']}")
        return 0
    results = evaluate(args.classifier, args.data, tuple(args.split or ("test",)), args.out,
                       args.batch_size, args.num_workers)
    print(json.dumps({s: {"top1": r["top1"], "macro_f1": r["macro_f1"], "n": r["n"]}
                      for s, r in results["splits"].items()}))
    print(f"results: {results['paths']['results']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))  # one-line errors, as `ringmo evaluate` reports them
