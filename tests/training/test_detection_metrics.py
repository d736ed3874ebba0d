"""DOTA-protocol AP and COCO AP against hand-computed small cases."""

import math

import numpy as np
import pytest

from training.tasks.detection_metrics import ImageBoxes, coco_ap, dota_map, voc07_ap

CLASSES = ("plane", "ship", "car")


def _gt(boxes, labels, difficult):
    boxes = np.array(boxes, float).reshape(len(labels), -1)
    return ImageBoxes(boxes, np.array(labels, int), difficult=np.array(difficult, bool))


def _det(boxes, labels, scores):
    boxes = np.array(boxes, float).reshape(len(labels), 4 if not boxes else -1)
    return ImageBoxes(boxes, np.array(labels, int), scores=np.array(scores, float))


def _case():
    gts = [_gt([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [0, 0, 2], [False, True, False]),
           _gt([[0, 0, 10, 10]], [0], [False])]
    dets = [_det([[0, 0, 10, 10],      # plane 0.9: true positive
                  [20, 20, 30, 30],    # plane 0.8: on the difficult plane -> ignored
                  [0, 0, 10, 10],      # plane 0.7: duplicate -> false positive
                  [80, 80, 90, 90],    # plane 0.6: nothing there -> false positive
                  [0, 0, 5, 5],        # ship: a class without objects
                  [70, 70, 75, 75],    # car 0.5: false positive, given first
                  [50, 50, 60, 60]],   # car 0.5: true positive, tied with the one above
                 [0, 0, 0, 0, 1, 2, 2], [0.9, 0.8, 0.7, 0.6, 0.9, 0.5, 0.5]),
            _det([], [], [])]
    return gts, dets


def test_voc07_eleven_points():
    assert voc07_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx((6 * 1.0 + 5 * 0.5) / 11)


def test_dota_map_hand_computed():
    result = dota_map(*_case(), CLASSES)
    # plane: 2 positives (the difficult one does not count); ranks tp 1,-,0,0 fp 0,-,1,1:
    # recall 0.5 at precision 1 then lower -> 6 of 11 points at precision 1
    assert result["ap_per_class"]["plane"] == pytest.approx(6 / 11)
    assert result["ap_per_class"]["ship"] is None  # no objects: out of the mean
    # car: the tie keeps the given order, false positive first -> precision 0.5 at recall 1
    assert result["ap_per_class"]["car"] == pytest.approx(0.5)
    assert result["map50"] == pytest.approx((6 / 11 + 0.5) / 2)


def test_iou_must_exceed_half_and_obb_uses_polygons():
    square = [10, 10, 10, 10, 0.0]
    gts = [_gt([square], [0], [False])]
    turned = [10, 10, 10, 10, math.pi / 2]  # the same square
    assert dota_map(gts, [_det([turned], [0], [1.0])], ("a",))["map50"] == pytest.approx(1.0)
    thin = [10, 10, 14, 4, math.pi / 4]  # diagonal strip: IoU well below 0.5 in polygons
    assert dota_map(gts, [_det([thin], [0], [1.0])], ("a",))["map50"] == 0.0
    half = [[0, 0, 10, 10]]
    shifted = [[0, 0, 10, 15]]  # IoU 100/150 = 0.67
    exact = [[0, 0, 10, 20]]  # IoU exactly 0.5 is not a match (DOTA: strictly above)
    assert dota_map([_gt(half, [0], [False])], [_det(shifted, [0], [1.0])], ("a",))["map50"] == 1.0
    assert dota_map([_gt(half, [0], [False])], [_det(exact, [0], [1.0])], ("a",))["map50"] == 0.0


def test_coco_ap_through_faster_coco_eval():
    gts = [_gt([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1], [False, False])]
    perfect = [_det([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1], [0.9, 0.8])]
    assert coco_ap(gts, perfect, ("a", "b")) == {"coco_ap": pytest.approx(1.0), "coco_ap50": pytest.approx(1.0)}
    loose = [_det([[0, 0, 10, 6.2], [20, 20, 40, 40]], [0, 1], [0.9, 0.8])]  # class a at IoU 0.62
    scores = coco_ap(gts, loose, ("a", "b"))
    assert scores["coco_ap50"] == pytest.approx(1.0)
    assert scores["coco_ap"] == pytest.approx((0.3 + 1.0) / 2)  # a matches at 0.5, 0.55, 0.6 of 10 thresholds
