"""Dense metrics as the field reports them, from one confusion matrix accumulated over a split.

Segmentation (ISPRS, LoveDA, iSAID papers): ``miou`` (mean over classes present in the truth
or the predictions), ``per_class_iou``, overall pixel ``accuracy`` and ``f1`` per class.
Change detection (LEVIR-CD, DSIFN papers): ``precision``, ``recall``, ``f1`` and ``iou`` of the
change class, and ``accuracy``, all from summed pixel counts (never averaged per image).
Pixels whose truth is the ignore index count nowhere.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int, ignore: int = IGNORE) -> np.ndarray:
    """``[K, K]`` pixel counts, rows = true class, columns = predicted; ignored pixels dropped."""
    truth, pred = np.asarray(truth).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    keep = (truth != ignore) & (truth >= 0) & (truth < num_classes)
    flat = truth[keep] * num_classes + np.clip(pred[keep], 0, num_classes - 1)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def segmentation_metrics(matrix: np.ndarray, classes) -> dict:
    """``miou``, ``per_class_iou``, ``accuracy``, ``f1`` (per class), ``mean_f1`` and the matrix.

    A class with no pixel in the truth nor in the predictions has no IoU (None) and is left
    out of the mean, as mmsegmentation does (its IoU would be 0/0).
    """
    matrix = np.asarray(matrix, np.int64)
    tp = np.diag(matrix)
    truth, pred = matrix.sum(1), matrix.sum(0)
    union = truth + pred - tp
    iou, f1 = _ratio(tp, union), _ratio(2 * tp, truth + pred)
    seen = union > 0
    names = [str(c) for c in classes]
    return {
        "miou": float(iou[seen].mean()) if seen.any() else 0.0,
        "per_class_iou": {n: float(iou[i]) if seen[i] else None for i, n in enumerate(names)},
        "accuracy": float(tp.sum() / max(1, matrix.sum())),
        "f1": {n: float(f1[i]) if seen[i] else None for i, n in enumerate(names)},
        "mean_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "pixels": int(matrix.sum()),
        "confusion": matrix.tolist(),
    }


def change_metrics(matrix: np.ndarray) -> dict:
    """``precision``, ``recall``, ``f1``, ``iou`` of the change class (1) and ``accuracy``."""
    matrix = np.asarray(matrix, np.int64)
    tn, fp, fn, tp = (int(v) for v in matrix[:2, :2].ravel())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "f1": f1, "iou": tp / (tp + fp + fn) if tp + fp + fn else 0.0,
        "precision": precision, "recall": recall,
        "accuracy": (tp + tn) / max(1, tp + tn + fp + fn),
        "pixels": tp + tn + fp + fn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "confusion": matrix.tolist(),
    }
