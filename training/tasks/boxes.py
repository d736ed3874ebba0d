"""Rotated-box operations in plain PyTorch: formats, exact IoU, NMS and a Gaussian loss.

Every open oriented-detection stack gets these from a compiled extension (mmcv, detectron2);
here they are tensor code, so they run on any device PyTorch runs on and install with pip.

Formats (all float tensors, any leading shape):

* ``obb``: ``(cx, cy, w, h, angle)``, the angle in radians. Corners are
  ``center + R(angle) @ (±w/2, ±h/2)`` with ``R = [[cos, -sin], [sin, cos]]`` in pixel
  coordinates (x right, y down), so a positive angle turns clockwise on screen (OpenCV's sense).
* ``poly``: the 4 corners ``[..., 4, 2]`` (DOTA's ``x1 y1 ... x4 y4``).
* ``hbb``: ``(x1, y1, x2, y2)``, the axis-aligned box around a poly.

The IoU is exact: the intersection of two rectangles is found by Sutherland–Hodgman clipping
of one polygon by the other's four half-planes, batched in fixed-size vertex buffers (a convex
polygon clipped by a half-plane gains at most one vertex, so 8 slots suffice), and measured
with the shoelace formula. It is differentiable almost everywhere, but the training loss is
the probabilistic IoU (``probiou_loss``): a box is a 2-D Gaussian, which makes the loss smooth
and free of the angle's periodicity and the w/h swap (Llerena et al. 2021, used by YOLOv8-OBB).
"""

from __future__ import annotations

import math

import numpy as np
import torch

_SLOTS = 8  # vertices of a rectangle clipped by 4 half-planes (convex: at most 4 + 4)


def obb_to_poly(obb: torch.Tensor) -> torch.Tensor:
    """``[..., 5] -> [..., 4, 2]`` corners in order (a closed ring without repeat)."""
    cx, cy, w, h, a = obb.unbind(-1)
    cos, sin = torch.cos(a), torch.sin(a)
    sx = torch.tensor([-0.5, 0.5, 0.5, -0.5], dtype=obb.dtype, device=obb.device)
    sy = torch.tensor([-0.5, -0.5, 0.5, 0.5], dtype=obb.dtype, device=obb.device)
    dx, dy = w[..., None] * sx, h[..., None] * sy  # [..., 4] offsets in the box frame
    x = cx[..., None] + cos[..., None] * dx - sin[..., None] * dy
    y = cy[..., None] + sin[..., None] * dx + cos[..., None] * dy
    return torch.stack([x, y], -1)


def poly_to_obb(poly: torch.Tensor) -> torch.Tensor:
    """``[..., 4, 2]`` rectangle corners (in ring order) -> ``[..., 5]`` obb.

    Width runs along the first edge (p0 -> p1), height along the second; a near-rectangle
    (annotators' quadrilaterals) gets the mean of its opposite sides. Fit the minimum rotated
    rectangle first for arbitrary polygons (``pipeline``'s label code does, with shapely).
    """
    p0, p1, p2, p3 = poly.unbind(-2)
    center = poly.mean(-2)
    e1, e2 = (p1 - p0 + p2 - p3) / 2, (p2 - p1 + p3 - p0) / 2
    w, h = e1.norm(dim=-1), e2.norm(dim=-1)
    angle = torch.atan2(e1[..., 1], e1[..., 0])
    return normalize_obb(torch.cat([center, w[..., None], h[..., None], angle[..., None]], -1))


def normalize_obb(obb: torch.Tensor) -> torch.Tensor:
    """One representative per rectangle: angle in ``[-pi/2, pi/2)`` (w, h kept as they are)."""
    angle = torch.remainder(obb[..., 4] + math.pi / 2, math.pi) - math.pi / 2
    return torch.cat([obb[..., :4], angle[..., None]], -1)


def poly_to_hbb(poly: torch.Tensor) -> torch.Tensor:
    """``[..., 4, 2] -> [..., 4]`` ``(x1, y1, x2, y2)``."""
    return torch.cat([poly.amin(-2), poly.amax(-2)], -1)


def obb_to_hbb(obb: torch.Tensor) -> torch.Tensor:
    return poly_to_hbb(obb_to_poly(obb))


def hbb_to_obb(hbb: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = hbb.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, torch.zeros_like(x1)], -1)


def _ring_area(points: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Shoelace area of polygons stored in slots: ``points [K, S, 2]``, ``count [K]`` -> ``[K]``."""
    slots = points.shape[1]
    index = torch.arange(slots, device=points.device)
    nxt = torch.where(index[None] + 1 >= count[:, None], 0, index[None] + 1)  # [K, S] wraps at count
    following = torch.gather(points, 1, nxt[..., None].expand(-1, -1, 2))
    cross = points[..., 0] * following[..., 1] - following[..., 0] * points[..., 1]  # [K, S]
    valid = index[None] < count[:, None]
    return 0.5 * torch.where(valid, cross, torch.zeros_like(cross)).sum(1).abs()


def _clip(points: torch.Tensor, count: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """Keep the part of each polygon left of the directed edge ``a -> b`` (one S–H pass).

    ``points [K, S, 2]``, ``count [K]``, ``a, b [K, 2]``. Each vertex ``i`` with its predecessor
    emits up to two points (the crossing, then itself when inside); valid ones move to the front.
    """
    slots = points.shape[1]
    index = torch.arange(slots, device=points.device)
    prev_i = torch.where(index[None] == 0, count[:, None] - 1, index[None] - 1).clamp(min=0)  # [K, S]
    prev = torch.gather(points, 1, prev_i[..., None].expand(-1, -1, 2))
    edge = (b - a)[:, None]  # [K, 1, 2]

    def side(p):  # > 0: left of a -> b (inside for a counter-clockwise ring)
        rel = p - a[:, None]
        return edge[..., 0] * rel[..., 1] - edge[..., 1] * rel[..., 0]

    s_cur, s_prev = side(points), side(prev)  # [K, S]
    live = index[None] < count[:, None]
    inside_cur, inside_prev = s_cur >= 0, s_prev >= 0
    crossing = live & (inside_cur != inside_prev)
    denom = s_prev - s_cur
    t = s_prev / torch.where(denom.abs() > 0, denom, torch.ones_like(denom))
    cut = prev + t[..., None] * (points - prev)  # [K, S, 2]
    cand = torch.stack([cut, points], 2).reshape(points.shape[0], 2 * slots, 2)
    keep = torch.stack([crossing, live & inside_cur], 2).reshape(points.shape[0], 2 * slots)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :slots]
    out = torch.gather(cand, 1, order[..., None].expand(-1, -1, 2))
    return out, keep.sum(1).clamp(max=slots)


def _ccw(poly: torch.Tensor) -> torch.Tensor:
    """Corners reordered counter-clockwise (positive shoelace area) so 'left' means inside."""
    x, y = poly[..., 0], poly[..., 1]
    signed = (x * y.roll(-1, -1) - x.roll(-1, -1) * y).sum(-1)
    return torch.where((signed < 0)[..., None, None], poly.flip(-2), poly)


def poly_intersection_area(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Area of ``p ∩ q`` for convex quadrilaterals paired row by row: ``[K, 4, 2]`` x2 -> ``[K]``."""
    p, q = _ccw(p), _ccw(q)
    points = torch.cat([p, p.new_zeros(p.shape[0], _SLOTS - 4, 2)], 1)
    count = torch.full((p.shape[0],), 4, dtype=torch.long, device=p.device)
    for k in range(4):
        points, count = _clip(points, count, q[:, k], q[:, (k + 1) % 4])
    return _ring_area(points, count)


def rotated_iou_pairs(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """IoU of ``a[i]`` with ``b[i]``: ``[K, 5]`` x2 -> ``[K]`` (exact, by polygon clipping)."""
    inter = poly_intersection_area(obb_to_poly(a), obb_to_poly(b))
    area_a, area_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
    return inter / (area_a + area_b - inter).clamp(min=eps)


def rotated_iou(a: torch.Tensor, b: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Pairwise IoU ``[N, 5] x [M, 5] -> [N, M]``; only pairs whose circumcircles meet are clipped."""
    out = a.new_zeros(a.shape[0], b.shape[0])
    if out.numel() == 0:
        return out
    radius_a, radius_b = a[:, 2:4].norm(dim=1) / 2, b[:, 2:4].norm(dim=1) / 2
    gap = torch.cdist(a[:, :2], b[:, :2])  # [N, M]
    i, j = torch.nonzero(gap < radius_a[:, None] + radius_b[None], as_tuple=True)
    for start in range(0, i.numel(), chunk):
        ii, jj = i[start:start + chunk], j[start:start + chunk]
        out[ii, jj] = rotated_iou_pairs(a[ii], b[jj])
    return out


def _greedy(iou: np.ndarray, threshold: float) -> np.ndarray:
    """Indexes kept by greedy suppression over an IoU matrix already in score order."""
    suppressed = np.zeros(len(iou), bool)
    keep = []
    for i in range(len(iou)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > threshold
    return np.asarray(keep, np.int64)


def rotated_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS of ``[N, 5]`` obbs: indexes kept, highest score first (torchvision's contract).

    The IoU matrix is computed on the boxes' device; the greedy pass (sequential by nature) runs
    on the host over its boolean rows.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    iou = rotated_iou(boxes[order], boxes[order])
    keep = _greedy(iou.detach().cpu().numpy(), threshold)
    return order[torch.from_numpy(keep).to(order.device)]


def batched_rotated_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                        threshold: float) -> torch.Tensor:
    """NMS within each class: boxes of different classes are moved apart so they never meet."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    span = (boxes[:, :2].abs().max() + boxes[:, 2:4].norm(dim=1).max() + 1) * 2
    shifted = boxes.clone()
    shifted[:, :2] = shifted[:, :2] + classes[:, None].to(boxes.dtype) * span
    return rotated_nms(shifted, scores, threshold)


def obb_gaussian(obb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean [..., 2], covariance [..., 2, 2])`` of the uniform distribution over the box."""
    w2, h2 = obb[..., 2] ** 2 / 12, obb[..., 3] ** 2 / 12
    cos, sin = torch.cos(obb[..., 4]), torch.sin(obb[..., 4])
    a = w2 * cos**2 + h2 * sin**2
    b = h2 * cos**2 + w2 * sin**2
    c = (w2 - h2) * cos * sin
    cov = torch.stack([torch.stack([a, c], -1), torch.stack([c, b], -1)], -2)
    return obb[..., :2], cov


def probiou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Probabilistic IoU ``1 - Hellinger(N_pred, N_target)`` in ``[0, 1]``, paired rows ``[K, 5]``."""
    m1, s1 = obb_gaussian(pred)
    m2, s2 = obb_gaussian(target)
    s = (s1 + s2) / 2
    det = (s[..., 0, 0] * s[..., 1, 1] - s[..., 0, 1] ** 2).clamp(min=eps)
    d = m1 - m2
    maha = (s[..., 1, 1] * d[..., 0] ** 2 + s[..., 0, 0] * d[..., 1] ** 2
            - 2 * s[..., 0, 1] * d[..., 0] * d[..., 1]) / det  # d^T S^-1 d
    det1 = (s1[..., 0, 0] * s1[..., 1, 1] - s1[..., 0, 1] ** 2).clamp(min=eps)
    det2 = (s2[..., 0, 0] * s2[..., 1, 1] - s2[..., 0, 1] ** 2).clamp(min=eps)
    bhattacharyya = maha / 8 + 0.5 * torch.log(det / (det1 * det2).sqrt().clamp(min=eps))
    hellinger = (1 - torch.exp(-bhattacharyya.clamp(min=eps, max=100)) + eps).sqrt()
    return 1 - hellinger


def probiou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - probiou`` per pair ``[K]``: smooth in every parameter, periodic in the angle."""
    return 1 - probiou(pred, target)
