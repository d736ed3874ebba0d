"""Imitations of real products for tests: per-band GeoTIFFs and their metadata files.

The Landsat imitation copies the structure of the real pre-collection product in
``/work/shared/realdata/products/landsat8_LC80200392015216LGN00``: files ``l8_B1.tif`` ...
``l8_B11.tif`` (B8 panchromatic at half the pixel size, its grid shifted by half a 30 m
pixel), ``l8_BQA.tif`` and ``l8_MTL.txt`` whose ``LANDSAT_SCENE_ID`` alone names the product.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

MTL_TEMPLATE = """GROUP = L1_METADATA_FILE
  GROUP = METADATA_FILE_INFO
    ORIGIN = "Image courtesy of the U.S. Geological Survey"
    REQUEST_ID = "0501508042214_00029"
    LANDSAT_SCENE_ID = "{scene_id}"
    FILE_DATE = 2015-08-04T21:11:59Z
    STATION_ID = "LGN"
    PROCESSING_SOFTWARE_VERSION = "LPGS_2.5.1"
  END_GROUP = METADATA_FILE_INFO
  GROUP = PRODUCT_METADATA
    DATA_TYPE = "L1T"
    OUTPUT_FORMAT = "GEOTIFF"
    SPACECRAFT_ID = "{spacecraft}"
    SENSOR_ID = "OLI_TIRS"
    WRS_PATH = 20
    WRS_ROW = 39
    DATE_ACQUIRED = {date}
    SCENE_CENTER_TIME = "16:19:21.7917421Z"
    FILE_NAME_BAND_1 = "{scene_id}_B1.TIF"
    FILE_NAME_BAND_4 = "{scene_id}_B4.TIF"
    FILE_NAME_BAND_QUALITY = "{scene_id}_BQA.TIF"
    METADATA_FILE_NAME = "{scene_id}_MTL.txt"
  END_GROUP = PRODUCT_METADATA
  GROUP = IMAGE_ATTRIBUTES
    CLOUD_COVER = 11.08
  END_GROUP = IMAGE_ATTRIBUTES
END_GROUP = L1_METADATA_FILE
END
"""

UTM16 = "EPSG:32616"
ORIGIN = (452475.0, 3408645.0)


def write_band(path: Path, data: np.ndarray, gsd: float, *, origin=ORIGIN, crs=UTM16, nodata=None,
               tags: dict | None = None, description: str | None = None) -> Path:
    height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype=str(data.dtype), crs=crs,
                   transform=Affine(gsd, 0, origin[0], 0, -gsd, origin[1]), nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
        if description:
            dst.set_band_description(1, description)
    return path


def band_pixels(index: int, height: int, width: int) -> np.ndarray:
    """Distinct smooth uint16 content per band (band ``index`` has mean ~ 1000 * index)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (1000 * index + 400 * np.sin(xx / 7.0 + index) + 300 * np.cos(yy / 5.0)).astype(np.uint16)


def write_landsat_product(folder: Path, *, size: int = 96, scene_id: str = "LC80200392015216LGN00",
                          spacecraft: str = "LANDSAT_8", date: str = "2015-08-04", prefix: str = "l8_",
                          mtl: bool = True, shift: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 12):
        if i == 8:  # pan: 15 m, grid offset by a quarter pixel as in the real product
            write_band(folder / f"{prefix}B8.tif", band_pixels(8 + shift, 2 * size, 2 * size), 15.0,
                       origin=(ORIGIN[0] - 7.5, ORIGIN[1] + 7.5))
        else:
            write_band(folder / f"{prefix}B{i}.tif", band_pixels(i + shift, size, size), 30.0)
    write_band(folder / f"{prefix}BQA.tif", np.full((size, size), 20480, np.uint16), 30.0)
    if mtl:
        (folder / f"{prefix}MTL.txt").write_text(
            MTL_TEMPLATE.format(scene_id=scene_id, spacecraft=spacecraft, date=date))
    return folder
