import numpy as np
import pytest

from catalogs.schema import BLANK, KEPT, NODATA
from pipeline.quality import QualityConfig, assess, band_stats, measure, verdict

CONFIG = QualityConfig()


def _texture(seed=0, size=128, bands=3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, bands)).astype(np.uint8)


def test_textured_tile_is_kept():
    a = assess(_texture(), None)
    assert a.valid_frac == 1.0 and a.std > 50 and a.entropy > 7.5
    assert a.quality == pytest.approx(1.0)
    assert verdict(a, CONFIG) == (KEPT, None)


def test_flat_tile_is_blank_with_std_reason():
    tile = np.full((128, 128, 3), 90, np.uint8)
    tile[0, 0] = 91
    status, detail = verdict(assess(tile, None), CONFIG)
    assert status == BLANK and detail.startswith("std")


def test_binary_tile_is_blank_by_entropy():
    tile = np.zeros((128, 128, 1), np.uint8)
    tile[::2] = 255  # std ~127 but only one bit of information
    a = assess(tile, None)
    assert a.std > 100 and a.entropy == pytest.approx(1.0, abs=0.01)
    status, detail = verdict(a, CONFIG)
    assert status == BLANK and detail.startswith("entropy")


def test_collar_tile_is_nodata():
    valid = np.ones((128, 128), bool)
    valid[:, :40] = False
    a = assess(_texture(), valid)
    assert a.valid_frac == pytest.approx(88 / 128)
    status, detail = verdict(a, CONFIG)
    assert status == NODATA and "valid_frac" in detail
    assert verdict(a, QualityConfig(min_valid_frac=0.5))[0] == KEPT


def test_all_invalid_tile():
    a = assess(_texture(), np.zeros((128, 128), bool))
    assert tuple(a) == (0.0, 0.0, 0.0, 0.0)
    assert verdict(a, CONFIG)[0] == NODATA


def test_statistics_ignore_invalid_pixels():
    tile = np.full((64, 64, 2), 200, np.uint8)
    tile[:, :, 1] = 100
    tile[:, :32] = 0
    valid = np.zeros((64, 64), bool)
    valid[:, 32:] = True
    a, mean, std = measure(tile, valid)
    assert mean.tolist() == [200.0, 100.0] and std.tolist() == [0.0, 0.0]
    assert a.std == pytest.approx(50.0)  # pooled over both bands
    m16, s16 = band_stats(tile.astype(np.uint16) * 100, valid)
    assert m16.tolist() == [20000.0, 10000.0]


def test_quality_grows_with_valid_fraction():
    tile = _texture()
    valid = np.ones((128, 128), bool)
    scores = []
    for cut in (64, 32, 0):
        valid[:, :cut] = False
        valid[:, cut:] = True
        scores.append(assess(tile, valid).quality)
    assert scores[0] < scores[1] < scores[2] <= 1.0
