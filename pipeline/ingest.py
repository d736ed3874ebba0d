"""Read what a scene is (size, bands, CRS, footprint, GSD, sensor, date, checksum) without
holding its pixels, and reject scenes that cannot be used with a message naming the problem.

Checks run cheapest first: the file exists and is not empty, GDAL opens it, its declared size
is sane (a decompression-bomb guard before any pixel is decoded), its transform is invertible,
and a few sampled blocks (or, for small scenes, scenes with overviews and scenes whose samples
are all nodata, a decimated read) find at least one valid pixel.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_gcps
from rasterio.windows import Window

from catalogs.keys import scene_id_for, scene_id_for_unreadable
from pipeline.footprint import densified_footprint, gsd_metres
from pipeline.gdal_env import gdal_env, open_raster
from pipeline.scene import SceneError, SceneInfo, SensorRule, SourceRef
from pipeline.products.grouping import split_band
from pipeline.products.identify import band_names_for, identify
from pipeline.recognize import decide, hint_source, prepare_product
from pipeline.sensors import DEFAULT_RULES, acquired_from
from pipeline.uris import is_remote, local_path, normalize_uri, suffix_of, to_gdal_path

MAX_PIXELS = 2**34
MAX_SIDE = 2**20
MAX_BLOCK_BYTES = 256 * 2**20  # one internal block GDAL must decode whole (tile or strip)
PROBE_SIDE = 512  # long side of the decimated read that checks for valid pixels
SAMPLE_GRID = 3  # sampled blocks per side that look for a valid pixel before any decimated read
CHUNK = 1 << 20  # checksum read size
GCP_TOLERANCE = 0.005  # max affine-fit residual of GCPs, as a fraction of the scene diagonal


@dataclass(frozen=True)
class _Georef:
    crs: str
    transform: Affine
    georeferenced: bool
    footprint_wkb: bytes | None
    gsd_m: float | None


def _gdal_message(exc: BaseException) -> str:
    """The exception's text plus its causes: rasterio wraps the useful GDAL message."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).strip()
        if text and "See previous exception" not in text:
            parts.append(text)
        exc = exc.__cause__ or exc.__context__
    return "; ".join(parts) or "unknown GDAL error"


def _check_local(uri: str) -> None:
    """Problems a stat can tell, before GDAL gives a vaguer message for them."""
    if is_remote(uri) or uri.startswith("/vsi"):
        return
    path = local_path(uri)
    if not os.path.exists(path):
        raise SceneError(uri, "file not found")
    if os.path.isdir(path):
        raise SceneError(uri, "is a directory, not a raster file")
    if os.path.getsize(path) == 0:
        raise SceneError(uri, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise SceneError(uri, "permission denied")


def _expected_driver(uri: str) -> str:
    try:
        return rasterio.drivers.driver_from_extension(uri)
    except (ValueError, KeyError):
        return ""


def _open(uri: str):
    try:
        return open_raster(to_gdal_path(uri))
    except Exception as exc:  # noqa: BLE001 - every GDAL failure becomes one clear scene error
        driver = _expected_driver(uri)
        hint = f" (suffix {suffix_of(uri) or 'none'} suggests driver {driver})" if driver else ""
        raise SceneError(uri, f"not a raster GDAL can open{hint}: {_gdal_message(exc)}") from exc


def _check_shape(ds, uri: str, max_pixels: int, max_side: int) -> None:
    if ds.count == 0:
        subs = list(getattr(ds, "subdatasets", []) or [])
        if subs:
            raise SceneError(
                uri, f"no raster bands: a container of {len(subs)} subdatasets; "
                     f"list one explicitly, e.g. {subs[0]}"
            )
        raise SceneError(uri, f"no raster bands (driver {ds.driver})")
    if ds.width <= 0 or ds.height <= 0:
        raise SceneError(uri, f"empty raster size {ds.width}x{ds.height}")
    pixels = ds.width * ds.height
    if ds.width > max_side or ds.height > max_side or pixels > max_pixels:
        raise SceneError(
            uri, f"declared size {ds.width}x{ds.height} ({pixels} pixels) exceeds the limits "
                 f"(side <= {max_side}, pixels <= {max_pixels}); refusing to decode"
        )


def _check_blocks(ds, uri: str, max_block_bytes: int = MAX_BLOCK_BYTES) -> None:
    """Absurd internal tiling is a decompression bomb too: GDAL allocates a whole block to
    decode any pixel of it, whatever the image size."""
    for (rows, cols), dtype in zip(ds.block_shapes, ds.dtypes):
        size = rows * cols * np.dtype(dtype).itemsize
        if size > max_block_bytes:
            raise SceneError(uri, f"internal block {cols}x{rows} {dtype} needs {size} bytes to decode "
                                  f"(limit {max_block_bytes}); refusing to decode")


def _check_sources(ds, uri: str) -> None:
    """Files a dataset reads from (VRT sources, sidecars) that are missing: GDAL would
    silently read zeros for a VRT band whose source file is gone."""
    if is_remote(uri) or uri.startswith("/vsi"):
        return
    missing = [f for f in (ds.files or [])[1:] if not f.startswith("/vsi") and not os.path.exists(f)]
    if missing:
        raise SceneError(uri, f"source file(s) of its bands are missing: {', '.join(missing)}")


def _check_lonlat_range(transform: Affine, crs, width: int, height: int, uri: str) -> None:
    """A geographic scene whose corners leave [-90, 90] latitude has a bogus geotransform
    (footprints would collapse onto the pole)."""
    if not crs.is_geographic:
        return
    corners = [transform @ (c, r) for c in (0, width) for r in (0, height)]
    lats = [lat for _, lat in corners]
    if max(abs(v) for v in lats) > 90.0 + 1e-9:
        raise SceneError(uri, f"geotransform puts latitudes at {min(lats):.6g}..{max(lats):.6g}, "
                              "outside [-90, 90]; the georeferencing is bogus")


def _gcp_transform(ds, uri: str) -> tuple[Affine, object] | None:
    """An affine fitted to the GCPs when it explains them to within GCP_TOLERANCE, else None."""
    gcps, gcp_crs = ds.gcps
    if len(gcps) < 3 or gcp_crs is None:
        return None
    try:
        fitted = from_gcps(gcps)
    except Exception:  # noqa: BLE001 - a degenerate GCP set is simply not used
        return None
    col, row = np.array([(g.col, g.row) for g in gcps]).T
    pred = np.stack([fitted.a * col + fitted.b * row + fitted.c, fitted.d * col + fitted.e * row + fitted.f], 1)
    truth = np.array([(g.x, g.y) for g in gcps])
    inverse_scale = np.sqrt(abs(fitted.determinant)) or 1.0
    residual_px = np.max(np.hypot(*(pred - truth).T)) / inverse_scale
    if residual_px > GCP_TOLERANCE * np.hypot(ds.width, ds.height):
        return None
    return fitted, gcp_crs


def _sidecar_crs(uri: str):
    """CRS from an ESRI ``.prj`` beside a world-file image (GDAL's PNG/JPEG drivers ignore it).

    Local files only: probing sidecars over HTTP costs a round trip per scene.
    """
    if is_remote(uri) or uri.startswith("/vsi"):
        return None
    path = local_path(uri)
    for candidate in (os.path.splitext(path)[0] + ".prj", path + ".prj"):
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8", errors="replace") as handle:
                    return CRS.from_user_input(handle.read().strip())
            except Exception:  # noqa: BLE001 - an unreadable .prj leaves the scene without CRS
                return None
    return None


def _crs_string(crs) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _georeference(ds, uri: str) -> _Georef:
    """CRS, transform, footprint and GSD; not georeferenced without a CRS or with identity."""
    transform, crs = ds.transform, ds.crs
    if transform.is_identity and len(ds.gcps[0]):
        fitted = _gcp_transform(ds, uri)
        if fitted is not None:
            transform, crs = fitted
    if crs is None and not transform.is_identity:
        crs = _sidecar_crs(uri)
    coeffs = np.array(transform[:6], dtype=np.float64)
    if not np.isfinite(coeffs).all() or transform.determinant == 0:
        raise SceneError(uri, f"geotransform {tuple(coeffs)} is not invertible")
    if crs is None or transform.is_identity:
        return _Georef("", transform, False, None, None)
    _check_lonlat_range(transform, crs, ds.width, ds.height, uri)
    try:
        footprint = densified_footprint(transform, ds.width, ds.height, crs)
        gsd = gsd_metres(transform, crs, ds.width, ds.height)
    except Exception:  # noqa: BLE001 - a CRS with no path to EPSG:4326 is "not georeferenced"
        return _Georef("", transform, False, None, None)
    return _Georef(_crs_string(crs), transform, True, shapely.to_wkb(footprint), gsd)


def _probe_shape(width: int, height: int) -> tuple[int, int]:
    scale = max(width, height) / PROBE_SIDE
    if scale <= 1:
        return height, width
    return max(1, round(height / scale)), max(1, round(width / scale))


def _valid_in(ds, window=None, out_shape=None) -> bool:
    """Whether band 1 of ``window`` (read at ``out_shape``) has a valid pixel (dataset mask:
    nodata, alpha, mask bands; NaN)."""
    first = ds.read(1, window=window, out_shape=out_shape)
    valid = np.ones(first.shape, dtype=bool)
    if any(MaskFlags.all_valid not in flags for flags in ds.mask_flag_enums):
        valid = ds.dataset_mask(window=window, out_shape=first.shape) > 0
    if np.issubdtype(first.dtype, np.floating):
        valid &= ~np.isnan(first)
    return bool(valid.any())


def _sample_windows(ds) -> list[Window]:
    """A SAMPLE_GRID x SAMPLE_GRID grid of block-aligned windows spread over the scene."""
    bh, bw = ds.block_shapes[0]
    bh, bw = min(max(bh, 64), 512, ds.height), min(max(bw, 64), 512, ds.width)
    windows = []
    for i in range(SAMPLE_GRID):
        for j in range(SAMPLE_GRID):
            row = int((i + 0.5) * ds.height / SAMPLE_GRID) // bh * bh
            col = int((j + 0.5) * ds.width / SAMPLE_GRID) // bw * bw
            windows.append(Window(col, row, min(bw, ds.width - col), min(bh, ds.height - row)))
    return windows


def _check_valid_pixels(ds, uri: str) -> None:
    """Require one valid pixel, and decode some pixel data so truncated or corrupt files fail here.

    Cheapest read first: a decimated view (<= PROBE_SIDE px) when the scene is small or has
    overviews; otherwise a few sampled source blocks, because a decimated read of a scene
    without overviews decodes every block (the whole scene, ~as costly as tiling it). Only a
    scene whose sampled blocks are all nodata pays for the full decimated read, so an all-nodata
    scene is still rejected here with its reason. Corruption in blocks not sampled surfaces in
    the tile stage, which rejects the scene with its error.
    """
    shape = _probe_shape(ds.width, ds.height)
    cheap_decimated = ds.width * ds.height <= 4 * PROBE_SIDE**2 or bool(ds.overviews(1))
    try:
        if not cheap_decimated and any(_valid_in(ds, window=w) for w in _sample_windows(ds)):
            return
        if _valid_in(ds, out_shape=shape):
            return
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt pixel data
        raise SceneError(uri, f"pixel data could not be read ({ds.driver}): {_gdal_message(exc)}") from exc
    raise SceneError(uri, f"all pixels are nodata (checked on a {shape[1]}x{shape[0]} decimated read)")


def _sha256_stream(handle) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _sha256_file(handle) -> str:
    """The whole file mapped and hashed in one call: hashlib then holds no GIL for the whole
    file (a chunked loop takes it back ~1,000 times a GB, each time waiting on any busy thread
    of the build); files that cannot be mapped (empty, special) are read in chunks."""
    try:
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest()
    except (ValueError, OSError):
        handle.seek(0)
        return _sha256_stream(handle)


def _remote_head_checksum(uri: str) -> str:
    """Identity of a remote object without downloading it: its length, ETag and first MiB.

    Reading every byte would double the traffic of a COG whose blocks are then fetched window
    by window; the first MiB of a raster holds its headers and the start of its pixels, and the
    ETag (an MD5 on S3 single-part uploads) tells apart objects that share those.
    """
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    info = fs.info(path)
    size = int(info["size"])
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    head = fs.cat_file(path, start=0, end=min(CHUNK, size))
    return "sha256-head:" + hashlib.sha256(f"{size}|{etag}|".encode() + head).hexdigest()


def _http_head_checksum(uri: str) -> str:
    """First MiB plus declared length, for URLs when no fsspec backend can read them."""
    from urllib.request import Request, urlopen

    request = Request(uri, headers={"Range": f"bytes=0-{CHUNK - 1}"})
    with urlopen(request, timeout=60) as response:  # noqa: S310 - http(s) only, checked by caller
        head = response.read(CHUNK)
        total = response.headers.get("Content-Range", "").rsplit("/", 1)[-1]
    return "sha256-head:" + hashlib.sha256(f"{total}|".encode() + head).hexdigest()


def file_checksum(uri: str) -> str:
    """Content checksum: ``sha256:<hex>`` of all bytes for local files.

    Remote objects get ``sha256-head:`` (length, ETag, first MiB: see
    :func:`_remote_head_checksum`), through fsspec or, for http(s) without a backend, urllib;
    other URIs with no backend get ``sha256-uri:`` (of the URI, not content).
    """
    if not is_remote(uri) and not uri.startswith("/vsi"):
        with open(local_path(uri), "rb") as handle:
            return "sha256:" + _sha256_file(handle)
    try:
        return _remote_head_checksum(uri)
    except (ImportError, ValueError):
        pass
    if uri.lower().startswith(("http://", "https://")):
        return _http_head_checksum(uri)
    return "sha256-uri:" + hashlib.sha256(normalize_uri(uri).encode()).hexdigest()


def _open_facts(uri: str, max_pixels: int, max_side: int) -> tuple[_Georef, dict, dict, tuple]:
    """Open ``uri`` once, run every check, and return (georef, tags, facts, band descriptions)."""
    with gdal_env(uri), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with _open(uri) as ds:
            _check_shape(ds, uri, max_pixels, max_side)
            _check_blocks(ds, uri)
            _check_sources(ds, uri)
            geo = _georeference(ds, uri)
            _check_valid_pixels(ds, uri)
            tags = {str(k): str(v) for k, v in ds.tags().items()}
            facts = dict(driver=ds.driver, width=ds.width, height=ds.height, band_count=ds.count,
                         dtypes=tuple(ds.dtypes), block_shape=tuple(int(v) for v in ds.block_shapes[0]),
                         nodata=None if ds.nodata is None else float(ds.nodata))
            return geo, tags, facts, tuple(ds.descriptions)


def _single_file(ref: SourceRef, rules, tags: dict, geo: _Georef, descriptions: tuple) -> dict:
    """Registry identification of one raster file, the rule decision and its band names."""
    parts = split_band(ref.uri.replace("\\", "/").rsplit("/", 1)[-1])
    identity = identify(ref.uri, tags, hint=ref.sensor, hint_source=hint_source(ref),
                        prefix=parts[0] if parts else None, local=not is_remote(ref.uri) and not ref.uri.startswith("/vsi"),
                        gsd_m=geo.gsd_m if geo.georeferenced else None)
    decision = decide(ref.uri, rules, identity, ref.sensor, hint_source(ref))
    band_names = band_names_for(decision.sensor, descriptions, parts[1] if parts else None)
    return dict(identity=identity, decision=decision, band_names=band_names, qa_uri=None, qa_kind=None)


def read_scene_info(
    ref: SourceRef,
    rules: Sequence[SensorRule] = DEFAULT_RULES,
    *,
    checksum: bool = True,
    max_pixels: int = MAX_PIXELS,
    max_side: int = MAX_SIDE,
    product_dir: str | None = None,
) -> SceneInfo:
    """Describe one scene or raise ``SceneError(uri, problem)``.

    With ``checksum=False`` the checksum is "" and the scene id comes from the URI
    (``scene_id_for_unreadable``), for quick dry runs over remote inputs. A ref with
    ``members`` (per-band files of one product) becomes one scene whose ``uri`` is the
    members' name pattern, read (``read_uri``) through a VRT written to ``product_dir`` (see
    :func:`pipeline.recognize.prepare_product`).
    """
    product = None
    uri = ref.uri
    if ref.members:
        product = prepare_product(ref, rules, product_dir=product_dir,
                                  checksum=_member_checksum if checksum else None)
        uri = product.vrt_uri
    else:
        _check_local(uri)
    geo, tags, facts, descriptions = _open_facts(uri, max_pixels, max_side)
    if product is not None:
        digest, scene_id = product.checksum, product.scene_id
        known = dict(identity=product.identity, decision=product.decision, band_names=product.band_names,
                     qa_uri=product.qa_uri, qa_kind=product.qa_kind)
    else:
        try:
            digest = file_checksum(uri) if checksum else ""
        except Exception as exc:  # noqa: BLE001 - network/backend errors become a scene error
            raise SceneError(uri, f"could not be read for its checksum: {exc}") from exc
        scene_id = scene_id_for(digest) if digest else scene_id_for_unreadable(uri)
        known = _single_file(ref, rules, tags, geo, descriptions)
    identity, decision = known["identity"], known["decision"]
    by_rule = acquired_from(ref.uri, {}, decision.rule) if decision.source == "rule" else None
    t = geo.transform
    return SceneInfo(
        scene_id=scene_id,
        uri=ref.uri,
        read_uri=uri if uri != ref.uri else None,
        crs=geo.crs,
        transform=(t.a, t.b, t.c, t.d, t.e, t.f),
        georeferenced=geo.georeferenced,
        gsd_m=geo.gsd_m,
        footprint_wkb=geo.footprint_wkb,
        sensor=decision.sensor,
        acquired=_to_ms(ref.acquired or by_rule or identity.acquired),
        checksum=digest,
        label=ref.label,
        tags=tags,
        platform=identity.platform if decision.sensor == identity.sensor else None,
        product=identity.product if decision.sensor == identity.sensor else None,
        sensor_source=decision.source,
        band_names=known["band_names"],
        qa_uri=known["qa_uri"],
        qa_kind=known["qa_kind"],
        **facts,
    )


def _to_ms(when):
    """Catalog timestamps are milliseconds (Landsat MTL times carry 7 decimals)."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000) if when is not None else None


def _member_checksum(uri: str) -> str:
    try:
        return file_checksum(uri)
    except Exception as exc:  # noqa: BLE001 - a member that cannot be read rejects its product
        raise SceneError(uri, f"could not be read for its checksum: {exc}") from exc
