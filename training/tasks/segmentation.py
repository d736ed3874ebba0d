"""Semantic segmentation: encoder + FPN decoder, per-pixel cross-entropy, mIoU.

Targets are the sample's ``mask.png`` class indexes (255 ignored); the headline figures are
``miou``, ``per_class_iou``, ``accuracy`` and ``f1`` per class from one confusion matrix
accumulated over the whole split (``training.tasks.dense_metrics``).
"""

from __future__ import annotations

from training.tasks.dense_metrics import segmentation_metrics

NAME = "segmentation"
HEADLINE = ("miou", "per_class_iou", "accuracy", "f1")
SUMMARY = ("miou", "accuracy")


def scores(matrix, classes) -> dict:
    return segmentation_metrics(matrix, classes)


def title(scored: dict) -> str:
    return f"mIoU {scored['miou']:.3f}, accuracy {scored['accuracy']:.3f}"
