import numpy as np
import pytest

from pipeline.scaling import Scaler, choose_method, fit_scaler, fit_view
from pipeline.scene import SensorRule

RULE = SensorRule(name="t", scale="display")  # display stretches; native (default) never scales


@pytest.mark.parametrize("dtype, bands, method", [
    ("uint8", 3, "none"), ("uint16", 4, "percentile"), ("int16", 1, "percentile"),
    ("float32", 1, "sar_db"), ("float32", 4, "percentile"), ("float64", 2, "percentile"),
])
def test_auto_choice(dtype, bands, method):
    assert choose_method(RULE, dtype, bands) == method


def test_native_output_never_scales_and_explicit_rule_wins():
    assert choose_method(SensorRule(name="t"), "uint16", 4) == "none"
    assert choose_method(SensorRule(name="t", scaling="percentile"), "float32", 1) == "none"
    assert choose_method(SensorRule(name="t", scale="display", scaling="minmax"), "uint8", 3) == "minmax"
    assert choose_method(SensorRule(name="t", scale="display", sar="amplitude"), "uint16", 1) == "sar_db"
    with pytest.raises(ValueError):
        choose_method(SensorRule(name="t", scale="display", scaling="gamma"), "uint16", 3)


def test_percentile_stretch_maps_uint16_to_full_uint8_range():
    rng = np.random.default_rng(0)
    data = rng.integers(1000, 5000, (64, 64, 3)).astype(np.uint16)
    data[..., 2] //= 4  # a band with a narrower range still uses all 8 bits
    scaler = fit_scaler(data, None, RULE, "uint16")
    out = scaler.apply(data)
    assert out.dtype == np.uint8
    for b in range(3):
        assert out[..., b].min() == 0 and out[..., b].max() == 255
        assert 0.01 < (out[..., b] == 0).mean() < 0.04  # ~2 % clipped at each end


def test_nodata_pixels_do_not_enter_the_fit():
    data = np.full((32, 32, 1), 3000, np.uint16)
    data[:16] = np.arange(16 * 32).reshape(16, 32, 1) + 2000
    valid = np.zeros((32, 32), bool)
    valid[:16] = True
    data[16:] = 0  # fill value, masked out
    scaler = fit_scaler(data, valid, SensorRule(name="t", scale="display", percentiles=(0, 100)), "uint16")
    assert scaler.lo == (2000.0,) and scaler.hi == (2000.0 + 16 * 32 - 1,)


def test_sar_linear_power_to_db():
    values = np.array([10 ** -2.5, 0.1, 1.0, 10.0], np.float32).reshape(1, 4, 1)
    scaler = fit_scaler(values, None, SensorRule(name="s1", scale="display", scaling="sar_db"), "float32")
    assert not scaler.input_db
    out = scaler.apply(values).ravel().tolist()
    assert out == [0, round(15 / 25 * 255), 255, 255]


def test_sar_already_in_db_is_detected():
    values = np.array([-25.0, -12.5, 0.0, 3.0], np.float32).reshape(1, 4, 1)
    scaler = fit_scaler(values, None, RULE, "float32")  # auto: float single band -> sar_db
    assert scaler.method == "sar_db" and scaler.input_db
    assert scaler.apply(values).ravel().tolist() == [0, 128, 255, 255]


def test_minmax_constant_band_and_nan():
    data = np.stack([np.linspace(0, 1, 100), np.full(100, 7.0)], axis=-1).reshape(10, 10, 2)
    data = data.astype(np.float32)
    data[0, 0, 0] = np.nan
    scaler = fit_scaler(data, None, SensorRule(name="t", scale="display", scaling="minmax"), "float32")
    out = scaler.apply(data)
    assert out[..., 0].max() == 255 and out[0, 1, 0] < 5
    assert out[0, 0, 0] == 0  # NaN maps to 0 instead of garbage
    assert (out[..., 1] == 0).all()  # constant band: no division by zero


def test_none_is_identity_and_empty_fit_is_safe():
    data = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert Scaler("none").apply(data) is data
    scaler = fit_scaler(np.zeros((4, 4, 2), np.uint16), np.zeros((4, 4), bool), RULE, "uint16")
    assert scaler.apply(np.zeros((4, 4, 2), np.uint16)).dtype == np.uint8


def test_sar_integer_amplitude_uses_scene_db_percentiles():
    rng = np.random.default_rng(1)
    dn = rng.integers(20, 2000, (64, 64, 2)).astype(np.uint16)  # uncalibrated amplitude DN
    scaler = fit_scaler(dn, None, SensorRule(name="s1", scale="display", scaling="sar_db"), "uint16")
    assert scaler.db_factor == 20.0
    out = scaler.apply(dn)
    for b in range(2):  # spread over the full range instead of saturating at the dB clip
        assert out[..., b].min() == 0 and out[..., b].max() == 255
        assert 0.3 < (out[..., b] > 127).mean() < 0.9


def _grd_like(seed=2, fill=0.02):
    """uint16 amplitude DN (log-normal speckle) with ~2 % zero fill and no nodata flag."""
    rng = np.random.default_rng(seed)
    dn = np.exp(rng.normal(5.5, 0.6, (128, 128, 1))).clip(1, 65535).astype(np.uint16)
    dn[:, : int(128 * fill)] = 0  # slice-border fill
    return dn


def test_grd_zero_fill_never_enters_the_stretch():
    """Zeros (-inf dB) in the fit made the old stretch start at -200 dB: all land was white."""
    dn = _grd_like()
    valid = dn[..., 0] > 0
    rule = SensorRule(name="s1", scale="display", scaling="sar_db", percentiles=(0.5, 99.5))
    for scaler in (fit_scaler(dn, None, rule, "uint16", "amplitude"),
                   fit_view(dn, None, rule, "uint16", "amplitude")):
        out = scaler.apply(dn)[valid]
        assert scaler.lo[0] > 20 * np.log10(50)  # the low end is land, not the fill
        assert (out == 255).mean() < 0.05 and (out == 0).mean() < 0.05
        assert 60 < out.mean() < 200


def test_view_of_native_data_is_fitted_on_valid_pixels_only():
    data = np.full((16, 16, 1), 60000, np.uint16)
    data[:8] = np.arange(8 * 16).reshape(8, 16, 1) + 1000
    valid = np.zeros((16, 16), bool)
    valid[:8] = True
    view = fit_view(data, valid, SensorRule(name="t", percentiles=(0, 100)), "uint16")
    assert view.lo == (1000.0,) and view.hi == (1000.0 + 127,)
    assert fit_view(data.astype(np.uint8), None, RULE, "uint8").method == "none"


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16"])
@pytest.mark.parametrize("method", ["percentile", "sar_db"])
def test_integer_tiles_take_the_table_path_with_the_float_paths_bytes(dtype, method):
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    tile = rng.integers(info.min, info.max, size=(40, 24, 3), endpoint=True).astype(dtype)
    tile = tile[::2, 1:]  # a strided view, as tiles cut from a strip are
    scaler = Scaler(method, lo=(-5.0, 10.0, 3.0), hi=(200.0, 40.0, 3.0))  # includes an empty range
    out = scaler.apply(tile)
    assert out.dtype == np.uint8 and out.shape == tile.shape
    np.testing.assert_array_equal(out, scaler._compute(tile))
    broadcast = Scaler(method, lo=(1.0,), hi=(90.0,))  # one range for every band
    np.testing.assert_array_equal(broadcast.apply(tile), broadcast._compute(tile))
