"""Rotated-box ops against shapely (IoU) and a brute-force reference (NMS)."""

import math

import numpy as np
import pytest
import shapely
import torch

from training.tasks.boxes import (batched_rotated_nms, hbb_to_obb, normalize_obb, obb_to_hbb, obb_to_poly,
                                  poly_to_obb, probiou, probiou_loss, rotated_iou, rotated_iou_pairs, rotated_nms)


def _random_obbs(rng, n, spread=20.0):
    centers = rng.uniform(0, spread, (n, 2))
    sizes = rng.uniform(1, 15, (n, 2))
    angles = rng.uniform(-math.pi, math.pi, (n, 1))
    return torch.from_numpy(np.concatenate([centers, sizes, angles], 1))  # float64


def _shapely_iou(a, b):
    pa, pb = shapely.Polygon(obb_to_poly(a).numpy()), shapely.Polygon(obb_to_poly(b).numpy())
    union = pa.union(pb).area
    return pa.intersection(pb).area / union if union else 0.0


def test_rotated_iou_equals_shapely_on_random_pairs():
    rng = np.random.default_rng(0)
    a, b = _random_obbs(rng, 3000), _random_obbs(rng, 3000)
    # a third of the pairs share a centre or an angle: the degenerate layouts clipping trips on
    b[:1000, :2] = a[:1000, :2]
    b[1000:2000, 4] = a[1000:2000, 4]
    ours = rotated_iou_pairs(a, b).numpy()
    ref = np.array([_shapely_iou(x, y) for x, y in zip(a, b)])
    assert (ref > 0.05).sum() > 1500  # most pairs overlap: the test measures clipping, not zeros
    assert np.abs(ours - ref).max() < 1e-4
    # float32 (what a model runs in) stays close too
    assert np.abs(rotated_iou_pairs(a.float(), b.float()).numpy() - ref).max() < 1e-3


def test_rotated_iou_special_cases():
    box = torch.tensor([[10.0, 10.0, 4.0, 2.0, 0.3]], dtype=torch.float64)
    assert rotated_iou_pairs(box, box).item() == pytest.approx(1.0)
    turned = box.clone()
    turned[0, 4] += math.pi  # the same rectangle
    assert rotated_iou_pairs(box, turned).item() == pytest.approx(1.0)
    swapped = torch.tensor([[10.0, 10.0, 2.0, 4.0, 0.3 + math.pi / 2]], dtype=torch.float64)
    assert rotated_iou_pairs(box, swapped).item() == pytest.approx(1.0)
    far = box.clone()
    far[0, 0] += 100
    assert rotated_iou_pairs(box, far).item() == 0.0
    inner = torch.tensor([[10.0, 10.0, 2.0, 1.0, 0.3]], dtype=torch.float64)
    assert rotated_iou_pairs(box, inner).item() == pytest.approx(0.25)


def test_pairwise_matrix_matches_pairs():
    rng = np.random.default_rng(1)
    a, b = _random_obbs(rng, 40), _random_obbs(rng, 30)
    matrix = rotated_iou(a, b)
    ii, jj = torch.meshgrid(torch.arange(40), torch.arange(30), indexing="ij")
    assert torch.allclose(matrix, rotated_iou_pairs(a[ii.flatten()], b[jj.flatten()]).reshape(40, 30))


def _brute_nms(boxes, scores, threshold):
    """Greedy suppression, each candidate against every box kept so far (shapely IoU)."""
    polys = shapely.polygons(obb_to_poly(boxes).numpy())
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep = []
    for i in order:
        kept = polys[keep]
        inter = shapely.area(shapely.intersection(polys[i], kept))
        iou = inter / (shapely.area(shapely.union(polys[i], kept)) + 1e-12)
        if not np.any(iou > threshold):
            keep.append(i)
    return keep


@pytest.mark.parametrize("threshold", [0.1, 0.5])
def test_rotated_nms_equals_brute_force(threshold):
    rng = np.random.default_rng(2)
    boxes = _random_obbs(rng, 300, spread=40)
    scores = torch.from_numpy(rng.uniform(0, 1, 300))
    assert rotated_nms(boxes, scores, threshold).tolist() == _brute_nms(boxes, scores, threshold)


def test_batched_nms_keeps_overlaps_of_other_classes():
    boxes = torch.tensor([[5.0, 5.0, 4, 4, 0], [5.0, 5.0, 4, 4, 0.1], [5.0, 5.0, 4, 4, 0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    classes = torch.tensor([0, 0, 1])
    assert batched_rotated_nms(boxes, scores, classes, 0.5).tolist() == [0, 2]


def test_formats_round_trip():
    rng = np.random.default_rng(3)
    obb = normalize_obb(_random_obbs(rng, 100))
    back = poly_to_obb(obb_to_poly(obb))
    assert torch.allclose(back, obb, atol=1e-9)
    hbb = obb_to_hbb(obb)
    poly = obb_to_poly(obb)
    assert torch.all(hbb[:, :2] <= poly.amin(1) + 1e-9) and torch.all(hbb[:, 2:] >= poly.amax(1) - 1e-9)
    axis = torch.tensor([[1.0, 2.0, 5.0, 4.0]])
    assert torch.allclose(obb_to_hbb(hbb_to_obb(axis)), axis)


def test_probiou_is_one_for_equal_boxes_and_angle_periodic():
    box = torch.tensor([[10.0, 10.0, 8.0, 3.0, 0.4]])
    assert probiou(box, box).item() == pytest.approx(1.0, abs=1e-3)
    assert probiou(box, box + torch.tensor([0, 0, 0, 0, math.pi])).item() == pytest.approx(1.0, abs=1e-3)
    assert probiou(box, box + torch.tensor([20.0, 0, 0, 0, 0])).item() < 0.05


def test_probiou_loss_gradient_turns_the_angle():
    target = torch.tensor([[10.0, 10.0, 8.0, 3.0, 0.6]])
    pred = torch.tensor([[10.0, 10.0, 8.0, 3.0, 0.0]], requires_grad=True)
    probiou_loss(pred, target).sum().backward()
    assert pred.grad[0, 4] < 0  # the loss falls as the angle rises toward the target
