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


def _numpy_band_stats(tile, valid):
    """The plain float64 per-band mean/std of the measured pixels (the reference band_stats keeps)."""
    from pipeline.quality import _valid_values

    frac = 1.0 if valid is None else valid.mean()
    x = _valid_values(tile, valid, frac).astype(np.float64)
    mean = x.mean(axis=0)
    return mean, np.sqrt(np.maximum((x * x).mean(axis=0) - mean * mean, 0.0))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32])
def test_band_stats_are_bit_identical_to_numpys_float64_means(dtype):
    """The band-major sums of 8/16-bit tiles are exact, so the catalog's band_mean/band_std do not
    move by one bit against the plain numpy reduction (floats take that reduction itself)."""
    rng = np.random.default_rng(7)
    for trial in range(12):
        if np.dtype(dtype).kind == "f":
            tile = rng.normal(0.1, 0.05, (256, 256, 4)).astype(dtype)
        else:
            info = np.iinfo(dtype)
            tile = rng.integers(info.min, info.max, (256, 256, 1 + trial % 6), endpoint=True).astype(dtype)
        valid = None if trial % 3 == 0 else rng.random((256, 256)) < 0.2 + 0.6 * rng.random()
        got, want = band_stats(tile, valid), _numpy_band_stats(tile, valid)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_measure_equals_plain_numpy_on_the_subsample_grid():
    """The per-band histograms give the same means, stds, pooled std and entropy as plain numpy
    over the same measured pixels, whole (strided views included) or masked."""
    from pipeline.quality import _valid_values

    rng = np.random.default_rng(3)
    strip = rng.integers(0, 256, (512, 1536, 3)).astype(np.uint8)
    for tile, valid in [(strip[:, 512:1024], None), (strip[:, :512], rng.random((512, 512)) < 0.7),
                        (_texture(1, 96, 2), None)]:
        a, mean, std = measure(tile, valid)
        frac = 1.0 if valid is None else valid.mean()
        x = _valid_values(tile, valid, frac).astype(np.float64)
        assert np.allclose(mean, x.mean(axis=0), rtol=0, atol=1e-9)
        assert np.allclose(std, x.std(axis=0), rtol=0, atol=1e-9)
        assert a.std == pytest.approx(x.std(), abs=1e-9)
        counts = np.bincount(x.astype(np.int64).ravel(), minlength=256)
        p = counts[counts > 0] / counts.sum()
        assert a.entropy == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-12)
        assert a.valid_frac == pytest.approx(frac)
