"""Tiny rasters (<= 256 px) written into tmp_path for ingest tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from PIL import Image
from affine import Affine


def from_origin(west, north, xsize, ysize):
    """North-up affine (rasterio's helper warns about Affine's ``*``)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def write_tif(path, *, width=64, height=48, count=1, dtype="uint8", crs=None, transform=None,
              nodata=None, data=None, tags=None, seed=0, **profile):
    """A GeoTIFF with seeded random pixels (or ``data``), returned as a str path."""
    rng = np.random.default_rng(seed)
    if data is None:
        if np.issubdtype(np.dtype(dtype), np.floating):
            data = rng.random((count, height, width)).astype(dtype)
        else:
            data = rng.integers(1, 200, (count, height, width)).astype(dtype)
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype,
        crs=crs, transform=transform, nodata=nodata, **profile,
    ) as ds:
        ds.write(data)
        if tags:
            ds.update_tags(**tags)
    return str(path)


@pytest.fixture
def utm_tif(tmp_path):
    """10 m pixels in UTM 31N near (3°E, 45°N)."""
    return write_tif(tmp_path / "utm.tif", width=64, height=48, crs="EPSG:32631",
                     transform=from_origin(500000, 5000000, 10, 10),
                     tags={"TIFFTAG_DATETIME": "2021:03:04 05:06:07"})


@pytest.fixture
def wgs84_tif(tmp_path):
    """0.001° pixels at the equator, west edge at 10°E."""
    return write_tif(tmp_path / "geo.tif", width=50, height=40, crs="EPSG:4326",
                     transform=from_origin(10.0, 0.02, 0.001, 0.001))


@pytest.fixture
def mercator_tif(tmp_path):
    return write_tif(tmp_path / "merc.tif", width=32, height=32, crs="EPSG:3857",
                     transform=from_origin(0, 5621521.486, 10, 10))


@pytest.fixture
def png_world(tmp_path):
    """PNG + .pgw world file, no CRS anywhere."""
    path = tmp_path / "aerial_photo.png"
    rgb = np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    (tmp_path / "aerial_photo.pgw").write_text("0.5\n0\n0\n-0.5\n1000.25\n2000.25\n")
    return str(path)


@pytest.fixture
def jpeg_plain(tmp_path):
    path = tmp_path / "drone" / "img_0001.jpg"
    path.parent.mkdir()
    rgb = np.random.default_rng(2).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=90)
    return str(path)


@pytest.fixture
def uint16_4band(tmp_path):
    return write_tif(tmp_path / "S2A_MSIL2A_20230615T103629_N0509_R008_T31UFQ.tif",
                     width=32, height=32, count=4, dtype="uint16", crs="EPSG:32631",
                     transform=from_origin(600000, 5100000, 10, 10), nodata=0,
                     tiled=True, blockxsize=16, blockysize=16)


@pytest.fixture
def sar_float(tmp_path):
    return write_tif(tmp_path / "S1A_IW_GRDH_1SDV_20230101T054512_20230101T054537_x.tif",
                     width=40, height=40, dtype="float32", crs="EPSG:32632",
                     transform=from_origin(300000, 4000000, 20, 20))


@pytest.fixture
def corrupt_tif(tmp_path):
    path = tmp_path / "corrupt.tif"
    path.write_bytes(b"II*\x00" + b"\x13\x37" * 50)
    return str(path)


@pytest.fixture
def empty_tif(tmp_path):
    path = tmp_path / "empty.tif"
    path.write_bytes(b"")
    return str(path)


@pytest.fixture
def nodata_tif(tmp_path):
    data = np.zeros((1, 256, 256), dtype="uint8")
    return write_tif(tmp_path / "allnodata.tif", width=256, height=256, data=data, nodata=0,
                     crs="EPSG:32631", transform=from_origin(500000, 5000000, 10, 10))


@pytest.fixture
def stac_item(tmp_path, utm_tif):
    """A STAC item beside the UTM tif, pointing at it with a relative href."""
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "item-1",
        "geometry": None, "properties": {"datetime": "2022-07-01T10:20:30Z",
                                         "constellation": "sentinel-2", "platform": "sentinel-2a"},
        "assets": {"thumbnail": {"href": "thumb.png", "roles": ["thumbnail"]},
                   "B04": {"href": "./utm.tif", "roles": ["data"]}},
    }
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    return str(path)


@pytest.fixture
def list_file(tmp_path, utm_tif, wgs84_tif):
    path = tmp_path / "lists" / "scenes.txt"
    path.parent.mkdir()
    path.write_text(
        "# scenes to ingest\n\n../utm.tif sensor=landsat label=farm\n"
        f"{wgs84_tif}\n  https://example.com/a/b.tif  \n"
    )
    return str(path)
