"""What the ingest stage learns about one input scene, and the error it raises for bad ones.

``SceneInfo`` is a plain value (picklable, no open dataset) so it can travel between Dask
workers; tiling re-opens the scene by ``uri``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from catalogs.errors import SceneError  # noqa: F401  (re-exported: scenes raise it)


@dataclass(frozen=True)
class SourceRef:
    """One input as discovered: where it is and what the input listing already says about it.

    STAC items and list files may carry the sensor, acquisition time or label; ``None`` means
    "unknown here", to be filled from sensor rules or the file's own tags.
    """

    uri: str  # local path or URL; GDAL-style /vsi* paths are derived from it when opening
    sensor: str | None = None
    acquired: datetime | None = None
    label: str | None = None
    origin: str = ""  # the listing it came from (directory, list file, STAC item), for messages
    # Per-band files of one product (``pipeline.products.grouping``): (band token, uri) pairs;
    # ``uri`` is then the members' name pattern (``/d/l8_{band}.tif``), not a file.
    members: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SensorRule:
    """How to recognise a sensor and turn its pixels into samples.

    Rules are tried in order; the first whose ``pattern`` (a glob on the URI, case-insensitive)
    matches wins, so put specific rules first and a catch-all last.
    """

    name: str
    pattern: str = "*"
    # Sample bands in order: 1-based source band indexes, or band names (``B04``, ``VV``) that
    # resolve against the scene's band names; None = all (grouped products: the registry's
    # default selection, see ``pipeline.products.bands.DEFAULT_BANDS``).
    bands: tuple[int | str, ...] | None = None
    band_names: tuple[str, ...] | None = None  # names for the selected bands
    # native: samples keep the source dtype and values; display: a uint8 stretch (``scaling``)
    # for users who want small JPEG/PNG corpora. Quality and pHash always see an 8-bit view.
    scale: str = "native"  # native | display
    scaling: str = "auto"  # display stretch: auto | none | percentile | sar_db | minmax
    format: str = "auto"  # auto (measured default per dtype and band count) or a codec name
    percentiles: tuple[float, float] = (2.0, 98.0)
    db_range: tuple[float, float] = (-25.0, 0.0)  # SAR: dB clip range mapped to 0..255
    acquired_pattern: str | None = None  # regex with a named group 'date' (YYYYMMDD or ISO)
    nodata: float | None = None  # a fill value the files do not flag (overrides theirs)
    sar: str | None = None  # SAR values: amplitude | linear | db; None = detect (SAR rules only)
    allow_upsample: bool = False  # let --gsd upsample this sensor more than max_upsample


@dataclass(frozen=True)
class SceneInfo:
    """Metadata of a readable scene; pixels are never held here."""

    scene_id: str
    uri: str
    driver: str
    width: int
    height: int
    band_count: int
    dtypes: tuple[str, ...]
    nodata: float | None
    crs: str  # "EPSG:xxxx" when it has an EPSG code, else WKT; "" when not georeferenced
    transform: tuple[float, float, float, float, float, float]  # affine a, b, c, d, e, f
    georeferenced: bool
    gsd_m: float | None  # metres per pixel (geographic CRSs converted at the scene centre)
    footprint_wkb: bytes | None  # densified footprint polygon in EPSG:4326
    sensor: str
    acquired: datetime | None
    checksum: str  # "sha256:<hex>" of the file bytes (provenance, duplicate-input detection)
    label: str | None = None
    block_shape: tuple[int, int] | None = None  # (rows, cols) of the first band's blocks
    tags: dict[str, str] = field(default_factory=dict)
    # What the product registry (pipeline.products) recognised; None where no evidence said.
    platform: str | None = None  # e.g. "landsat-8", "sentinel-2a"
    product: str | None = None  # product type / processing level, e.g. "L1TP", "MSIL1C", "GRD"
    sensor_source: str | None = None  # which evidence decided the sensor: stac|list|sidecar|tags|name|gsd|rule
    band_names: tuple[str, ...] | None = None  # names of the source bands in order, when known
    qa_uri: str | None = None  # the product's own quality/cloud mask raster (screening, not a band)
    qa_kind: str | None = None  # how to read it, e.g. "landsat_bqa", "landsat_qa_pixel", "s2_scl"
    # Where pixels are read from when that is not ``uri``: a grouped product's ``uri`` is its
    # band files' name pattern (stable, whatever the corpus) and this is the VRT stacking them.
    read_uri: str | None = None

