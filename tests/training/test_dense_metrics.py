"""Dense metrics against confusion matrices worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from training.tasks.dense_metrics import change_metrics, confusion, segmentation_metrics


def test_confusion_drops_ignored_pixels_and_counts_the_rest():
    truth = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])
    expected = np.array([[1, 1, 0],   # truth 0: one right, one called 1
                         [0, 2, 0],   # truth 1: both right
                         [1, 0, 0]])  # truth 2: called 0; the 255 pixel counts nowhere
    np.testing.assert_array_equal(confusion(truth, pred, 3), expected)


def test_segmentation_metrics_by_hand():
    matrix = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    m = segmentation_metrics(matrix, ["a", "b", "c"])
    # IoU: a = 1 / (2 + 2 - 1) = 1/3, b = 2 / (2 + 3 - 2) = 2/3, c = 0 / (1 + 0 - 0) = 0
    assert m["per_class_iou"] == pytest.approx({"a": 1 / 3, "b": 2 / 3, "c": 0.0})
    assert m["miou"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # F1 = 2 TP / (truth + predicted): a = 2/4, b = 4/5, c = 0
    assert m["f1"] == pytest.approx({"a": 0.5, "b": 0.8, "c": 0.0})


def test_a_class_absent_from_truth_and_predictions_is_left_out_of_the_mean():
    matrix = np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]])
    m = segmentation_metrics(matrix, ["a", "b", "c"])
    assert m["per_class_iou"]["c"] is None and m["f1"]["c"] is None
    assert m["miou"] == pytest.approx(3 / 5)  # a and b: 3 / (4 + 4 - 3)


def test_change_metrics_from_summed_counts():
    # tn 50, fp 5, fn 10, tp 35
    m = change_metrics(np.array([[50, 5], [10, 35]]))
    assert m["precision"] == pytest.approx(35 / 40)
    assert m["recall"] == pytest.approx(35 / 45)
    assert m["f1"] == pytest.approx(2 * 35 / (2 * 35 + 5 + 10))
    assert m["iou"] == pytest.approx(35 / 50)
    assert m["accuracy"] == pytest.approx(85 / 100)


def test_change_metrics_with_no_change_anywhere_are_zero_not_nan():
    m = change_metrics(np.array([[10, 0], [0, 0]]))
    assert (m["f1"], m["precision"], m["recall"], m["iou"], m["accuracy"]) == (0.0, 0.0, 0.0, 0.0, 1.0)
