import numpy as np
import pytest

from pipeline.clouds import band_roles, fractions, qa_masks, reflectance_scale


def test_qa_bits_of_every_kind():
    bqa = np.array([0b11 << 14, 0b10 << 14, 0b01 << 14, 1], np.uint16)  # high, medium, low, fill
    cloud, shadow, fill = qa_masks(bqa, "landsat_bqa")
    assert cloud.tolist() == [True, False, False, False] and shadow is None and fill.tolist() == [0, 0, 0, 1]
    c1 = np.array([1 << 4, 0b11 << 7, 0, 1], np.uint16)
    cloud, shadow, fill = qa_masks(c1, "landsat_bqa_c1")
    assert cloud.tolist() == [1, 0, 0, 0] and shadow.tolist() == [0, 1, 0, 0] and fill.tolist() == [0, 0, 0, 1]
    qa_pixel = np.array([1 << 3, 1 << 1, 1 << 4, 1 << 6, 1], np.uint16)  # cloud, dilated, shadow, clear, fill
    cloud, shadow, fill = qa_masks(qa_pixel, "landsat_qa_pixel")
    assert cloud.tolist() == [1, 1, 0, 0, 0] and shadow.tolist() == [0, 0, 1, 0, 0] and fill.tolist()[-1]
    scl = np.array([8, 9, 10, 3, 4, 0], np.uint8)
    cloud, shadow, fill = qa_masks(scl, "s2_scl")
    assert cloud.tolist() == [1, 1, 1, 0, 0, 0] and shadow.tolist() == [0, 0, 0, 1, 0, 0] and fill.tolist()[-1]
    with pytest.raises(ValueError, match="unknown QA kind"):
        qa_masks(scl, "fmask")


def test_band_roles_per_sensor_family():
    assert band_roles(("2", "3", "4", "5"), "landsat") == {"blue": 0, "green": 1, "red": 2, "nir": 3}
    assert band_roles(("B1", "B2", "B3", "B4"), "landsat", "landsat-7")["nir"] == 3
    assert band_roles(("B02", "B04", "B08", "B11"), "sentinel2") == {"blue": 0, "red": 1, "nir": 2, "swir1": 3}
    assert band_roles(("red", "green", "blue", "nir08"), None) == {"red": 0, "green": 1, "blue": 2, "nir": 3}
    assert reflectance_scale("landsat", "uint16") == (2e-5, -0.1)
    assert reflectance_scale("landsat", "uint16", "L2SP") == (2.75e-5, -0.2)
    assert reflectance_scale("aerial", "uint8") is None


def test_fractions_count_valid_pixels_only():
    cloud = np.array([[1, 1], [0, 0]], bool)
    valid = np.array([[1, 0], [1, 1]], bool)
    assert fractions(cloud, None, valid) == (pytest.approx(1 / 3), None)
    assert fractions(cloud, cloud, np.zeros((2, 2), bool)) == (None, None)
