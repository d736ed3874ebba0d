"""The manifest's statistics are per band layout, with each band's wavelength when known."""

import pyarrow as pa

from catalogs.layouts import VISIBLE_RGB_NM, layout_key
from workflows.assemble import normalization_stats
from workflows.layouts import band_wavelengths


def _rows(sensor, bands, dtype, means):
    return [{"sensor": sensor, "bands": bands, "band_count": len(m), "dtype": dtype, "band_mean": m,
             "band_std": [1.0] * len(m)} for m in means]


def test_one_sensor_with_two_band_sets_gets_two_layouts():
    kept = pa.Table.from_pylist(
        _rows("sentinel2", "B2,B3,B4,B8", "uint16", [[1, 2, 3, 4], [3, 4, 5, 6]])
        + _rows("sentinel2", "B05,B06,B07,B8A,B11,B12", "uint16", [[1] * 6])
        + _rows("unknown", "b1,b2,b3", "uint8", [[10, 20, 30]])
        + _rows("unknown", None, "float32", [[0.1]]))
    stats = normalization_stats(kept)
    assert sorted(stats) == sorted([layout_key("sentinel2", "B2,B3,B4,B8", "uint16"),
                                    layout_key("sentinel2", "B05,B06,B07,B8A,B11,B12", "uint16"),
                                    "unknown/b1,b2,b3/uint8", "unknown/b1/float32"])
    s2 = stats["sentinel2/B2,B3,B4,B8/uint16"]
    assert s2["mean"] == [2.0, 3.0, 4.0, 5.0] and s2["count"] == 2 and s2["dtype"] == "uint16"
    assert s2["wavelengths_nm"] == [490.0, 560.0, 665.0, 842.0] and s2["gsd_m"] == [10.0] * 4
    assert stats["unknown/b1,b2,b3/uint8"]["wavelengths_nm"] == list(VISIBLE_RGB_NM)  # 8-bit RGB assumed
    assert stats["unknown/b1/float32"]["wavelengths_nm"] is None  # unplaceable: its own input in training


def test_band_names_need_their_sensor():
    assert band_wavelengths("landsat8", ["B5"])[0] == [865.0]  # NIR on Landsat 8
    assert band_wavelengths("sentinel2", ["B5"])[0] == [705.0]  # red edge on Sentinel-2
    assert band_wavelengths("unknown", ["B5"])[0] == [None]
