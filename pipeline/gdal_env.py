"""The one place that decides GDAL configuration for opening scenes (ingest and tiling).

Remote reads are dominated by HTTP round trips, so for remote URIs GDAL must not list
directories looking for sidecars, must only touch raster-looking URLs, and should merge range
requests. Local reads keep sidecar discovery (world files, .aux.xml, .prj) enabled.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import rasterio

from catalogs.store import scheme_of
from pipeline.uris import is_remote, suffix_of

#: Extensions /vsicurl/ may fetch; stops GDAL probing for .aux.xml/.ovr/.msk over HTTP.
REMOTE_EXTENSIONS = (
    ".tif", ".tiff", ".gtif", ".jp2", ".j2k", ".png", ".jpg", ".jpeg", ".webp", ".img",
    ".vrt", ".nc", ".hdf", ".h5", ".ntf", ".xml", ".json",
)

#: Options for every open: bounded block cache per worker process, no multithreaded decode
#: (Dask already runs one task per core).
BASE_OPTIONS = {
    # rasterio passes an int GDAL_CACHEMAX to GDALSetCacheMax64, i.e. BYTES (256 would mean a
    # 256-byte cache and ~50x slower decimated reads).
    "GDAL_CACHEMAX": 256 * 1024 * 1024,
    "GDAL_NUM_THREADS": 1,
    "CPL_VSIL_CURL_CACHE_SIZE": 64 * 1024 * 1024,
}

#: Options added for remote URIs.
REMOTE_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MAX_RETRY": 3,
    "GDAL_HTTP_RETRY_DELAY": 1,
    "GDAL_HTTP_TIMEOUT": 60,
    "VSI_CACHE": "TRUE",
    "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
}


def s3_endpoint_options(environ=os.environ) -> dict:
    """GDAL's spelling of an S3-compatible endpoint (MinIO, Ceph, moto) given the AWS way.

    boto3/s3fs (corpus outputs, training shards) read ``AWS_ENDPOINT_URL[_S3]``; GDAL's /vsis3/
    reads ``AWS_S3_ENDPOINT`` (host:port) + ``AWS_HTTPS`` + path-style addressing. Mapping one
    onto the other lets one setting serve inputs and outputs. An explicit ``AWS_S3_ENDPOINT``
    wins.
    """
    url = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if not url or environ.get("AWS_S3_ENDPOINT"):
        return {}
    parts = urlsplit(url)
    return {"AWS_S3_ENDPOINT": parts.netloc + parts.path.rstrip("/"),
            "AWS_HTTPS": "NO" if parts.scheme == "http" else "YES",
            "AWS_VIRTUAL_HOSTING": "FALSE"}


def gdal_options(uri: str | None = None, **overrides) -> dict:
    """The option dict :func:`gdal_env` uses (exposed so tests and workers can inspect it)."""
    options = dict(BASE_OPTIONS)
    if uri is not None and is_remote(uri):
        options.update(REMOTE_OPTIONS)
        if scheme_of(uri) == "s3":
            options.update(s3_endpoint_options())
        extensions = list(REMOTE_EXTENSIONS)
        own = suffix_of(uri)
        if own and own not in extensions:
            extensions.append(own)
        # A URL without an extension (presigned, API endpoint) must not be filtered out.
        if own:
            options["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"] = ",".join(extensions)
    options.update(overrides)
    return options


def gdal_env(uri: str | None = None, **overrides) -> rasterio.Env:
    """A ``rasterio.Env`` configured for opening ``uri`` (remote options only when remote).

    Use as ``with gdal_env(uri): rasterio.open(to_gdal_path(uri))``; keyword overrides are GDAL
    config options and win over the defaults.
    """
    return rasterio.Env(**gdal_options(uri, **overrides))


def open_raster(gdal_path: str):
    """``rasterio.open`` without the NotGeoreferencedWarning: ingest records that fact itself."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(gdal_path)
