"""Tile detections put back on whole images, and a picture of predictions.

DOTA scores whole images, while the model sees overlapping tiles. Each tile's boxes are moved
by the tile's offset and scaled by its scene pixels per input pixel; the detections of all
tiles of an image then go through NMS together (an object in an overlap is found twice).
Ground truth is put back the same way: the copies of one object (same annotation ``id``) in
several tiles become one, the most complete copy (largest box) standing for it, so an object
seen whole in any tile is scored whole.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from training.tasks.boxes import batched_rotated_nms, obb_to_poly
from training.tasks.detection_metrics import ImageBoxes

MERGE_IOU = {"obb": 0.1, "hbb": 0.5}  # DOTA devkit's merge thresholds for oriented / horizontal


def to_image(boxes: np.ndarray, info: dict) -> np.ndarray:
    """Boxes of one tile (input pixels) in its image's pixels."""
    out = np.array(boxes, np.float64, copy=True)
    s, x0, y0 = info["scale"], info["x0"], info["y0"]
    if out.shape[1] == 5:
        out[:, :4] *= s
        out[:, 0] += x0
        out[:, 1] += y0
    else:
        out *= s
        out[:, [0, 2]] += x0
        out[:, [1, 3]] += y0
    return out


def _nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, kind: str) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    b, s, c = torch.as_tensor(boxes), torch.as_tensor(scores, dtype=torch.float64), torch.as_tensor(labels)
    keep = batched_rotated_nms(b, s, c, MERGE_IOU[kind]) if kind == "obb" else batched_nms(b, s, c, MERGE_IOU[kind])
    return keep.numpy()


def _merged_truth(copies: list[tuple]) -> ImageBoxes:
    """One ground-truth entry per annotation id (largest copy), copies without an id kept apart."""
    best: dict = {}
    for n, (box, label, ignore, oid, area) in enumerate(copies):
        key = ("id", oid) if oid >= 0 else ("copy", n)
        if key not in best or area > best[key][4]:
            best[key] = (box, label, ignore, oid, area)
    values = [best[k] for k in sorted(best, key=str)]
    width = copies[0][0].shape[0] if copies else 5
    return ImageBoxes(np.array([v[0] for v in values]).reshape(-1, width), np.array([v[1] for v in values], np.int64),
                      difficult=np.array([v[2] for v in values], bool))


def merge_tiles(dataset, predictions: list[tuple[dict, dict]], kind: str) -> tuple[list[ImageBoxes], list[ImageBoxes]]:
    """Per whole image (sorted by uri): merged ground truth and merged, NMS'd detections."""
    truth: dict[str, list] = {}
    found: dict[str, list] = {}
    for i, (det, target) in enumerate(predictions):
        info = dataset.tile_info(i)
        gt_boxes = to_image(target[kind].numpy(), info)
        areas = (gt_boxes[:, 2] * gt_boxes[:, 3] if kind == "obb" else
                 (gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1]))
        truth.setdefault(info["uri"], []).extend(zip(gt_boxes, target["labels"].tolist(), target["ignore"].tolist(),
                                                     target["ids"].tolist(), areas))
        found.setdefault(info["uri"], []).append((to_image(det["boxes"], info), det["scores"], det["labels"]))
    gts, dets = [], []
    width = 5 if kind == "obb" else 4
    for uri in sorted(truth):
        gts.append(_merged_truth(truth[uri]) if truth[uri] else
                   ImageBoxes(np.zeros((0, width)), np.zeros(0, np.int64), difficult=np.zeros(0, bool)))
        boxes = np.concatenate([f[0] for f in found[uri]]).reshape(-1, width)
        scores = np.concatenate([f[1] for f in found[uri]])
        labels = np.concatenate([f[2] for f in found[uri]]).astype(np.int64)
        keep = _nms(boxes, scores, labels, kind)
        dets.append(ImageBoxes(boxes[keep], labels[keep], scores=scores[keep]))
    return gts, dets


def _outline(canvas: np.ndarray, box: np.ndarray, colour, kind: str) -> None:
    if kind == "obb":
        pts = obb_to_poly(torch.as_tensor(box, dtype=torch.float64)).numpy()
    else:
        x1, y1, x2, y2 = box
        pts = np.array([(x1, y1), (x2, y1), (x2, y2), (x1, y2)])
    cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], True, colour, 1, cv2.LINE_AA, shift=4)


def save_predictions_png(dataset, predictions: list[tuple[dict, dict]], kind: str, classes, path: str | Path,
                         count: int = 4, min_score: float = 0.3, zoom: int = 2) -> Path:
    """Up to ``count`` tiles side by side: ground truth green, predictions (score >= min_score) red."""
    panels = []
    for i in range(min(count, len(dataset))):
        image, _ = dataset[i]
        pixels = image[:3].numpy().transpose(1, 2, 0)  # [S, S, <=3] standardized
        lo, hi = pixels.min((0, 1)), pixels.max((0, 1))
        view = ((pixels - lo) / np.maximum(hi - lo, 1e-6) * 255).astype(np.uint8)
        view = np.ascontiguousarray(np.repeat(view, 3, 2) if view.shape[2] == 1 else view[..., ::-1])
        view = cv2.resize(view, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        det, target = predictions[i]
        for box in target[kind].numpy():
            _outline(view, _zoomed(box, zoom, kind), (60, 220, 60), kind)
        for box, s in zip(det["boxes"], det["scores"]):
            if s >= min_score:
                _outline(view, _zoomed(box, zoom, kind), (40, 40, 255), kind)
        panels.append(view)
    path = Path(path)
    if panels:
        cv2.imwrite(str(path), np.concatenate(panels, 1))
    return path


def _zoomed(box: np.ndarray, zoom: int, kind: str) -> np.ndarray:
    out = np.array(box, np.float64, copy=True)
    if kind == "obb":
        out[:4] *= zoom
    else:
        out *= zoom
    return out
