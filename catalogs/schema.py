"""The catalog contract between the corpus builder and the trainer.

Every tile candidate produced by the tile stage is one row of ``CANDIDATE_SCHEMA``. Curation
adds its decisions (``status``, ``duplicate_of``, ``cell``, ``split``) and packing adds where the
sample landed (``shard``, ``offset``, ``size``, ``sha256``). ``catalog/tiles.parquet`` holds the
kept rows, ``catalog/rejected.parquet`` every other candidate, both with ``CATALOG_SCHEMA``.
``catalog/scenes.parquet`` records every input scene (read or rejected) with ``SCENE_SCHEMA``.

Keeping the schema in one module lets the producer (``pipeline``), the engine (``workflows``)
and the consumer (``training``) agree without importing each other.
"""

from __future__ import annotations

import pyarrow as pa

#: Final status of a kept candidate; any other status is a rejection reason code.
KEPT = "kept"

#: Rejection reason codes. ``detail``/``duplicate_of`` carry the specifics.
NODATA = "nodata"  # too few valid pixels
BLANK = "blank"  # low information: flat (std) or low entropy
DUPLICATE = "duplicate"  # exact or near duplicate of ``duplicate_of``
BALANCED_OUT = "balanced_out"  # dropped by geo/sensor balancing or a cap
UNREADABLE = "unreadable"  # the window could not be read or decoded
CLOUD = "cloud"  # cloud_frac above the build's max_cloud
REASONS = (NODATA, BLANK, CLOUD, DUPLICATE, BALANCED_OUT, UNREADABLE)

#: Scene-level statuses (``scenes.parquet``).
SCENE_OK = "ok"
SCENE_REJECTED = "rejected"
TOO_COARSE = "too_coarse"  # the target GSD would upsample the scene more than max_upsample

BBOX_TYPE = pa.struct(
    [
        ("xmin", pa.float64()),
        ("ymin", pa.float64()),
        ("xmax", pa.float64()),
        ("ymax", pa.float64()),
    ]
)

#: Columns written by the tile stage (one staged fragment per scene).
CANDIDATE_FIELDS = [
    pa.field("tile_id", pa.string(), nullable=False),  # 16 hex chars, see catalogs.keys
    pa.field("scene_id", pa.string(), nullable=False),
    pa.field("uri", pa.string(), nullable=False),  # source scene URI
    pa.field("sensor", pa.string(), nullable=False),
    pa.field("platform", pa.string()),  # e.g. "landsat-8", "sentinel-2a" (product registry)
    pa.field("product", pa.string()),  # product type / processing level, e.g. "L1TP", "MSIL2A", "GRD"
    pa.field("sensor_source", pa.string()),  # evidence that named the sensor: stac|list|sidecar|tags|name|gsd|rule
    pa.field("bands", pa.string()),  # comma-separated band names in sample order
    pa.field("band_count", pa.int16()),
    pa.field("dtype", pa.string()),  # sample dtype (uint8, uint16, float32, ...)
    pa.field("format", pa.string()),  # sample encoding: png, jpg, webp, npy, tif
    pa.field("gsd_m", pa.float32()),  # ground sample distance of the sample, metres
    pa.field("width", pa.int32()),  # sample size in pixels
    pa.field("height", pa.int32()),
    pa.field("src_crs", pa.string()),  # "EPSG:32631", WKT, or "" when not georeferenced
    pa.field("georeferenced", pa.bool_()),
    pa.field("acquired", pa.timestamp("ms", tz="UTC")),
    pa.field("col_off", pa.int32()),  # window in source pixel space (before resampling)
    pa.field("row_off", pa.int32()),
    pa.field("win_width", pa.int32()),
    pa.field("win_height", pa.int32()),
    pa.field("geometry", pa.binary()),  # WKB footprint in EPSG:4326 (null if not georeferenced)
    pa.field("bbox", BBOX_TYPE),  # GeoParquet 1.1 covering of ``geometry``
    pa.field("lon", pa.float64()),  # footprint centroid
    pa.field("lat", pa.float64()),
    pa.field("valid_frac", pa.float32()),  # fraction of pixels that are not nodata
    pa.field("std", pa.float32()),  # std of valid pixels in sample units
    pa.field("entropy", pa.float32()),  # Shannon entropy (bits) of the 8-bit histogram
    pa.field("quality", pa.float32()),  # composite score in [0, 1]; higher is better
    pa.field("cloud_frac", pa.float32()),  # cloudy fraction of valid pixels (QA or spectral test); null: unknown
    pa.field("shadow_frac", pa.float32()),  # cloud-shadow fraction (product QA only); null: unknown
    pa.field("band_mean", pa.list_(pa.float32())),  # per-band mean of valid pixels, sample units
    pa.field("band_std", pa.list_(pa.float32())),  # per-band std: corpus normalization stats
    pa.field("pixel_hash", pa.string()),  # hex XXH3-128 of decoded sample pixels (exact dedup)
    pa.field("phash", pa.uint64()),  # 64-bit DCT perceptual hash (near dedup)
    pa.field("stage_file", pa.string()),  # staging blob, relative to the corpus root
    pa.field("stage_offset", pa.int64()),  # byte range of the encoded sample in the blob
    pa.field("stage_size", pa.int64()),
    pa.field("label", pa.string()),  # class label for labeled corpora, else null
    # dense tasks (segmentation, change): members staged and packed after the image, as
    # "mask.png:SIZE,b.png:SIZE" (null for plain samples), and pixels per class index of the mask
    pa.field("members", pa.string()),
    pa.field("class_pixels", pa.list_(pa.int64())),
    pa.field("objects", pa.string()),  # detection corpora: the tile's objects as JSON (see pipeline.object_tiles)
    pa.field("classes", pa.string()),  # detection: the object classes present, sorted, comma-joined (query --label)
    pa.field("object_counts", pa.string()),  # detection: JSON {class: count}
    pa.field("status", pa.string()),  # KEPT or a reason code; set by the tile stage for
    pa.field("detail", pa.string()),  # quality rejections, by curate for the rest
]

#: Columns added by curation and packing.
DECISION_FIELDS = [
    pa.field("duplicate_of", pa.string()),  # tile_id of the representative kept instead
    pa.field("cell", pa.string()),  # H3 cell, or "src:<scene_id>" when not georeferenced
    pa.field("split", pa.string()),  # train / val / test
    pa.field("shard", pa.string()),  # shard path relative to the corpus root
    pa.field("offset", pa.int64()),  # byte offset of the sample's first tar header in the shard
    pa.field("size", pa.int64()),  # bytes of all the sample's tar members, headers included
    pa.field("sha256", pa.string()),  # sha256 of the encoded image member
]

CANDIDATE_SCHEMA = pa.schema(CANDIDATE_FIELDS)
CATALOG_SCHEMA = pa.schema(CANDIDATE_FIELDS + DECISION_FIELDS)

SCENE_SCHEMA = pa.schema(
    [
        pa.field("scene_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # SCENE_OK, SCENE_REJECTED or TOO_COARSE
        pa.field("error", pa.string()),  # why it was rejected, naming the problem
        pa.field("driver", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("band_count", pa.int16()),
        pa.field("dtypes", pa.string()),
        pa.field("nodata", pa.float64()),
        pa.field("src_crs", pa.string()),
        pa.field("georeferenced", pa.bool_()),
        pa.field("gsd_m", pa.float64()),
        pa.field("sensor", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("product", pa.string()),
        pa.field("sensor_source", pa.string()),
        pa.field("bands", pa.string()),  # registry band names of the scene, comma-separated
        pa.field("qa_uri", pa.string()),  # the product's own quality/cloud mask raster
        pa.field("qa_kind", pa.string()),
        pa.field("acquired", pa.timestamp("ms", tz="UTC")),
        pa.field("checksum", pa.string()),  # "sha256:<hex>" of the file's bytes
        pa.field("geometry", pa.binary()),  # WKB footprint in EPSG:4326
        pa.field("candidates", pa.int32()),  # tiles the scene produced
    ]
)


def empty_table(schema: pa.Schema) -> pa.Table:
    """An empty table with ``schema``: stages return it instead of ``None`` so concat works."""
    return schema.empty_table()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder and cast ``table`` to ``schema``, adding missing columns as nulls.

    Stages add columns as they go; conforming at each persisted boundary keeps every file on
    disk byte-for-byte comparable across runs.
    """
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
