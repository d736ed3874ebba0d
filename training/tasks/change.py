"""Change detection: a siamese encoder over both dates, |A - B| per level into the FPN decoder.

Targets are ``mask.png`` (0 no change, 1 change, 255 ignored); the headline figures are the
change class's ``f1``, ``iou``, ``precision``, ``recall`` and the overall ``accuracy`` from
summed pixel counts over the split (``training.tasks.dense_metrics``), as LEVIR-CD papers report.
"""

from __future__ import annotations

from training.tasks.dense_metrics import change_metrics

NAME = "change"
HEADLINE = ("f1", "iou", "precision", "recall", "accuracy")
SUMMARY = ("f1", "iou")


def scores(matrix, classes) -> dict:
    return change_metrics(matrix)


def title(scored: dict) -> str:
    return f"change F1 {scored['f1']:.3f}, IoU {scored['iou']:.3f}"
