"""What a raster's own GDAL/TIFF metadata says: platform tags, product JSON, EXIF, software.

Acquisition-time tags are read in order of trust; ``TIFFTAG_DATETIME`` is when the file was
written (often a processing date), so it is the last resort and never beats a product name.
"Drone" and "aerial" come only from evidence about the camera or the software that made the
mosaic (EXIF make/model, ``TIFFTAG_SOFTWARE`` of Pix4D, Agisoft Metashape, OpenDroneMap...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pipeline.products.facts import Facts, platform_facts
from pipeline.products.names import name_facts
from pipeline.sensors import parse_datetime

#: Acquisition-time tags, most specific first (``TIFFTAG_DATETIME`` is handled apart).
ACQUISITION_TAGS = (
    "ACQUISITIONDATETIME", "ACQUISITION_DATETIME", "ACQUISITION_DATE", "DATE_ACQUIRED",
    "SENSING_TIME", "PRODUCT_START_TIME", "DATATAKE_SENSING_START", "IMAGING_DATE",
    "EXIF_DATETIMEORIGINAL", "EXIF_DATETIMEDIGITIZED", "DATETIME", "DATE", "START_TIME",
)
PROCESSING_TIME_TAG = "TIFFTAG_DATETIME"
_PLATFORM_TAGS = ("SPACECRAFT_NAME", "SPACECRAFT_ID", "SATELLITE", "SATELLITE_ID", "MISSION_ID",
                  "PLATFORM", "MISSION", "CONSTELLATION")
_PRODUCT_TAGS = ("PRODUCT_TYPE", "PROCESSING_LEVEL", "DATA_TYPE")
_PHOTOGRAMMETRY = re.compile(r"pix4d|agisoft|metashape|photoscan|opendronemap|\bodm\b|dronedeploy|"
                             r"drone2map|reality ?capture|webodm", re.IGNORECASE)
_DRONE_CAMERAS = re.compile(r"\b(dji|parrot|sensefly|autel|skydio|yuneec|micasense|sequoia|phantom|"
                            r"mavic|zenmuse|wingtra)\b", re.IGNORECASE)
_AERIAL_CAMERAS = re.compile(r"ultracam|\bdmc\b|ads[0-9]{2,3}|leica|vexcel|phase ?one|\bixu\b|"
                             r"citymapper|\brcd30\b", re.IGNORECASE)


def _upper(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).upper(): str(v) for k, v in (tags or {}).items()}


def acquired_from_tags(tags: Mapping[str, str] | None, *, processing_time: bool = False):
    """Acquisition time from tags; ``processing_time`` also accepts ``TIFFTAG_DATETIME``."""
    upper = _upper(tags)
    keys = ACQUISITION_TAGS + ((PROCESSING_TIME_TAG,) if processing_time else ())
    for key in keys:
        found = parse_datetime(upper.get(key))
        if found is not None:
            return found
    return None


def _description_json(upper: dict[str, str]) -> dict:
    text = upper.get("TIFFTAG_IMAGEDESCRIPTION", "").strip()
    if not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_product_type(upper: dict[str, str]) -> str | None:
    """Sentinel-1 RTC COGs carry per-scene JSON (``"product_type": "RTC"``) in their tags."""
    for key, value in upper.items():
        if key.startswith("SCENE_") and value.startswith("{"):
            match = re.search(r'"(?:product_type|productType)":\s*"(\w+)"', value)
            if match:
                return match.group(1).upper()
    return None


def _platform_from_tags(upper: dict[str, str]) -> Facts | None:
    for key in _PLATFORM_TAGS:
        value = upper.get(key)
        if not value:
            continue
        if key == "MISSION" and upper.get("MISSION_INDEX"):
            value += upper["MISSION_INDEX"]
        found = platform_facts(value, "tags")
        if found is not None:
            return found
    return None


def _planet_description(described: dict) -> Facts | None:
    """Planet's surface-reflectance GeoTIFFs describe their 6S correction in IMAGEDESCRIPTION."""
    correction = described.get("atmospheric_correction")
    if isinstance(correction, dict) and "sr_version" in correction and "aot_source" in correction:
        return Facts("planetscope", "planetscope", "analytic_sr", None, None, "tags")
    return None


def _camera(upper: dict[str, str]) -> Facts | None:
    software = " ".join(upper.get(k, "") for k in ("TIFFTAG_SOFTWARE", "EXIF_SOFTWARE"))
    camera = " ".join(upper.get(k, "") for k in ("EXIF_MAKE", "EXIF_MODEL", "TIFFTAG_MAKE", "TIFFTAG_MODEL"))
    if _DRONE_CAMERAS.search(camera) or _PHOTOGRAMMETRY.search(software):
        make = _DRONE_CAMERAS.search(camera)
        return Facts("drone", make.group(1).lower() if make else None, None, None, None, "tags")
    if _AERIAL_CAMERAS.search(camera):
        return Facts("aerial", "aircraft", None, None, None, "tags")
    return None


def tag_facts(tags: Mapping[str, str] | None) -> Facts | None:
    """Facts the GDAL metadata states, or None when it names no product."""
    upper = _upper(tags)
    described = _description_json(upper)
    found = _platform_from_tags(upper) or _planet_description(described) or _camera(upper)
    if found is None:
        for key in ("PRODUCT_ID", "PRODUCT_URI", "LANDSAT_PRODUCT_ID", "LANDSAT_SCENE_ID", "TITLE"):
            named = name_facts(upper.get(key, "")) if upper.get(key) else None
            if named is not None:
                found = Facts(named[1].sensor, named[1].platform, named[1].product, named[1].acquired,
                              named[1].product_id, "tags")
                break
    if found is None:
        return None
    product = found.product or _json_product_type(upper) or next(
        (upper[k] for k in _PRODUCT_TAGS if upper.get(k)), None)
    acquired = acquired_from_tags(upper) or parse_datetime(described.get("acquired"))
    return Facts(found.sensor, found.platform, product, found.acquired or acquired, found.product_id, "tags")
