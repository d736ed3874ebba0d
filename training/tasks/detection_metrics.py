"""Detection scores as the field computes them: the DOTA protocol, and COCO AP for hbb.

DOTA (``DOTA_devkit/dota_evaluation_task1.py``, the protocol DOTA and DIOR-R papers report):
per class, every detection of the whole set in score order is matched to the best-overlapping
ground truth of its image; IoU strictly above 0.5 with an unmatched object is a true positive;
the best match being a *difficult* object makes the detection neither true nor false (ignored),
and difficult objects do not count among the positives. AP is VOC07's 11-point interpolated
precision; ``map50`` is its mean over the classes that have at least one non-difficult object
(a class with none has no recall to speak of: its AP is ``None`` and it stays out of the mean,
as it does in COCO). IoU is the polygon IoU of oriented boxes (``training.tasks.boxes``) or
the plain box IoU of horizontal ones. Ties in score keep the order detections were given in
(a stable sort; the devkit's quicksort leaves it unspecified).

COCO AP (0.5:0.95) and AP50 for horizontal boxes come from ``faster-coco-eval``, a maintained
reimplementation of pycocotools; difficult objects go in as ``iscrowd`` (detections on them
are ignored, as in DOTA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

from training.tasks.boxes import rotated_iou


@dataclass(frozen=True)
class ImageBoxes:
    """One image's objects or detections: ``boxes [N, 5]`` obb or ``[N, 4]`` hbb (x1, y1, x2, y2)."""

    boxes: np.ndarray
    labels: np.ndarray  # int [N]
    scores: np.ndarray | None = None  # detections only
    difficult: np.ndarray | None = None  # ground truth only: bool [N]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ta, tb = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return (rotated_iou(ta, tb) if a.shape[1] == 5 else box_iou(ta, tb)).numpy()


def voc07_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC07 11-point AP: mean over t in 0, 0.1, ..., 1 of the best precision at recall >= t."""
    points = [precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]
    return float(np.sum(points) / 11)


def class_ap(gts: list[ImageBoxes], dets: list[ImageBoxes], cls: int, threshold: float = 0.5) -> float | None:
    """DOTA AP of one class over paired image lists (``None``: no non-difficult object)."""
    positives, records = 0, []
    for image, (gt, det) in enumerate(zip(gts, dets)):
        mine = gt.labels == cls
        difficult = gt.difficult[mine] if gt.difficult is not None else np.zeros(mine.sum(), bool)
        positives += int((~difficult).sum())
        pick = det.labels == cls
        records.append((gt.boxes[mine], difficult, det.boxes[pick], det.scores[pick]))
    if positives == 0:
        return None
    flat = [(score, image, k) for image, (_, _, _, scores) in enumerate(records) for k, score in enumerate(scores)]
    order = sorted(range(len(flat)), key=lambda i: -flat[i][0])  # stable: ties keep the given order
    ious = [_iou(boxes, gt_boxes) for gt_boxes, _, boxes, _ in records]
    taken = [np.zeros(len(r[0]), bool) for r in records]
    tp, fp = np.zeros(len(flat)), np.zeros(len(flat))
    for rank, i in enumerate(order):
        _, image, k = flat[i]
        overlaps = ious[image][k] if ious[image].shape[1] else np.zeros(0)
        best = int(overlaps.argmax()) if overlaps.size else -1
        if best < 0 or overlaps[best] <= threshold:
            fp[rank] = 1
        elif records[image][1][best]:
            continue  # on a difficult object: neither true nor false
        elif not taken[image][best]:
            tp[rank] = taken[image][best] = 1
        else:
            fp[rank] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc07_ap(recall, precision)


def dota_map(gts: list[ImageBoxes], dets: list[ImageBoxes], classes: tuple[str, ...] | list[str],
             threshold: float = 0.5) -> dict:
    """``{"map50", "ap_per_class"}``: DOTA-protocol AP per class name and their mean."""
    if len(gts) != len(dets):
        raise ValueError(f"{len(gts)} ground-truth images but {len(dets)} detection images")
    per_class = {name: class_ap(gts, dets, c, threshold) for c, name in enumerate(classes)}
    scored = [ap for ap in per_class.values() if ap is not None]
    return {"map50": float(np.mean(scored)) if scored else None, "ap_per_class": per_class}


def coco_ap(gts: list[ImageBoxes], dets: list[ImageBoxes], classes) -> dict:
    """``{"coco_ap", "coco_ap50"}`` of horizontal boxes through ``faster-coco-eval``."""
    from faster_coco_eval import COCO, COCOeval_faster

    images, annotations, results = [], [], []
    for image, (gt, det) in enumerate(zip(gts, dets), start=1):
        images.append({"id": image, "width": 1, "height": 1})
        for box, label, hard in zip(gt.boxes, gt.labels, _flags(gt)):
            x1, y1, x2, y2 = map(float, box)
            annotations.append({"id": len(annotations) + 1, "image_id": image, "category_id": int(label) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": int(hard)})
        for box, label, score in zip(det.boxes, det.labels, det.scores):
            x1, y1, x2, y2 = map(float, box)
            results.append({"image_id": image, "category_id": int(label) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})
    if not annotations or not results:
        return {"coco_ap": 0.0 if annotations else None, "coco_ap50": 0.0 if annotations else None}
    truth = COCO({"images": images, "annotations": annotations,
                  "categories": [{"id": i + 1, "name": n} for i, n in enumerate(classes)]})
    evaluator = COCOeval_faster(truth, truth.loadRes(results), iouType="bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return {"coco_ap": float(evaluator.stats[0]), "coco_ap50": float(evaluator.stats[1])}


def _flags(gt: ImageBoxes) -> np.ndarray:
    return gt.difficult if gt.difficult is not None else np.zeros(len(gt.labels), bool)
