"""The raw demo scene set: every kind of input the corpus builder must cope with, on purpose.

Three regional clusters (Paris in UTM 31N, the Bernese Alps in UTM 32N, Lisbon in UTM 29N) plus
isolated scenes; three sensors (0.5 m RGB aerial, 10 m 4-band uint16 Sentinel-2-like, 10 m
float32 Sentinel-1-like SAR); EPSG:4326 and EPSG:3857 scenes; rotated affine footprints and
rotated content inside nodata collars; two aerial scenes cut from one canvas so the same ground
appears twice (dedup); an all-nodata scene, a truncated GeoTIFF and plain JPEGs without any
georeferencing. Bytes are a pure function of (seed, scale): no timestamps are written.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from rasterio.warp import transform as reproject_points

from workflows.samples import render


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the set; sizes are at scale 1 and in pixels."""

    name: str
    kind: str  # aerial | s2 | s1 | jpeg (sensor and format)
    style: str
    lonlat: tuple[float, float]
    crs: str
    size: tuple[int, int]  # (width, height)
    gsd: float
    date: str = "2022:06:14 10:30:00"  # TIFFTAG_DATETIME format
    rotation: float = 0.0  # degrees the affine transform is rotated by (footprint rotation)
    collar: str = ""  # "" | "rotated" (content rotated inside nodata) | "swath" (diagonal edge)
    canvas: str = ""  # scenes sharing a canvas are crops of the same rendered ground
    offset: tuple[int, int] = (0, 0)  # (col, row) of this crop in its canvas
    blank: bool = False  # every pixel nodata
    truncate: bool = False  # header readable, pixel data cut short (an interrupted download)


PARIS, ALPS, LISBON = (2.35, 48.85), (7.86, 46.69), (-9.14, 38.72)

SCENES: tuple[SceneSpec, ...] = (
    SceneSpec("aerial_paris_0001_20220614.tif", "aerial", "paris", PARIS, "EPSG:32631",
              (1024, 1024), 0.5, canvas="paris", offset=(0, 0)),
    SceneSpec("aerial_paris_0002_20220614.tif", "aerial", "paris", PARIS, "EPSG:32631",
              (1024, 1024), 0.5, canvas="paris", offset=(384, 384)),  # tile-aligned at 96/128/192 px
    SceneSpec("aerial_paris_0003_20210522.tif", "aerial", "paris", (2.38, 48.86), "EPSG:32631",
              (768, 768), 0.5, date="2021:05:22 11:02:00", rotation=25.0),
    SceneSpec("aerial_paris_0004_20210522_webmercator.tif", "aerial", "farmland", (2.28, 48.81),
              "EPSG:3857", (768, 768), 0.5, date="2021:05:22 11:05:00"),
    SceneSpec("S2A_MSIL2A_20230612_T31UDQ_paris.tif", "s2", "paris", PARIS, "EPSG:32631",
              (768, 768), 10.0, date="2023:06:12 10:50:31"),
    SceneSpec("S1A_IW_GRDH_1SDV_20230301_paris_VV.tif", "s1", "paris", PARIS, "EPSG:32631",
              (768, 768), 10.0, date="2023:03:01 05:50:00"),
    SceneSpec("aerial_alps_0001_20220802.tif", "aerial", "alpine", ALPS, "EPSG:32632",
              (1024, 1024), 0.5, date="2022:08:02 09:40:00"),
    SceneSpec("aerial_alps_0002_20220802.tif", "aerial", "alpine", (7.88, 46.70), "EPSG:32632",
              (1024, 1024), 0.5, date="2022:08:02 09:41:00", collar="rotated"),
    SceneSpec("S2B_MSIL2A_20230715_T32TMS_alps.tif", "s2", "alpine", ALPS, "EPSG:32632",
              (768, 768), 10.0, date="2023:07:15 10:20:19"),
    SceneSpec("S2B_MSIL2A_20230718_T32TMS_alps_wgs84.tif", "s2", "alpine", (7.98, 46.62),
              "EPSG:4326", (640, 640), 10.0, date="2023:07:18 10:30:21"),
    SceneSpec("S1A_IW_GRDH_1SDV_20230305_alps_VV.tif", "s1", "alpine", ALPS, "EPSG:32632",
              (512, 512), 10.0, date="2023:03:05 17:20:00"),
    SceneSpec("aerial_lisbon_0001_20220903.tif", "aerial", "coastal", LISBON, "EPSG:32629",
              (1024, 1024), 0.5, date="2022:09:03 11:15:00"),
    SceneSpec("aerial_lisbon_0002_20220903.tif", "aerial", "coastal", (-9.20, 38.69),
              "EPSG:32629", (768, 768), 0.5, date="2022:09:03 11:16:00", rotation=-20.0),
    SceneSpec("S2A_MSIL2A_20230620_T29SMC_lisbon.tif", "s2", "coastal", LISBON, "EPSG:32629",
              (768, 768), 10.0, date="2023:06:20 11:21:11", collar="swath"),
    SceneSpec("S1A_IW_GRDH_1SDV_20230309_lisbon_VV.tif", "s1", "coastal", LISBON, "EPSG:32629",
              (512, 512), 10.0, date="2023:03:09 18:30:00"),
    SceneSpec("S2A_MSIL2A_20230801_T32RNP_sahara.tif", "s2", "desert", (10.2, 25.1), "EPSG:32632",
              (640, 640), 10.0, date="2023:08:01 09:55:41"),
    SceneSpec("aerial_iowa_0001_20200717_wgs84.tif", "aerial", "farmland", (-93.5, 42.0),
              "EPSG:4326", (768, 768), 0.5, date="2020:07:17 16:10:00"),
    SceneSpec("S2B_MSIL2A_20230901_T27WVM_empty.tif", "s2", "farmland", (-19.0, 64.9),
              "EPSG:32627", (256, 256), 10.0, date="2023:09:01 12:00:00", blank=True),
    SceneSpec("aerial_paris_0099_20220614_truncated.tif", "aerial", "paris", (2.30, 48.87),
              "EPSG:32631", (512, 512), 0.5, truncate=True),
    SceneSpec("DJI_0001.JPG", "jpeg", "farmland", (0, 0), "", (1024, 768), 0.3),
    SceneSpec("DJI_0002.JPG", "jpeg", "paris", (0, 0), "", (1024, 768), 0.3),
    SceneSpec("DJI_0003.JPG", "jpeg", "coastal", (0, 0), "", (1024, 768), 0.3),
    SceneSpec("DJI_0004.JPG", "jpeg", "alpine", (0, 0), "", (1024, 768), 0.3),
)


def scaled(n: int, scale: float) -> int:
    """A size at ``scale``, a multiple of 16 and at least 64 px."""
    return max(64, int(round(n * scale / 16.0)) * 16)


def spec_rng(seed: int, key: str) -> np.random.Generator:
    """Independent stream per scene/canvas so adding a scene never changes the others."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def geotransform(spec: SceneSpec, width: int, height: int) -> Affine:
    """Affine centred on ``spec.lonlat`` with ``spec.gsd`` ground metres per pixel."""
    lon, lat = spec.lonlat
    xs, ys = reproject_points("EPSG:4326", spec.crs, [lon], [lat])
    if spec.crs == "EPSG:4326":
        px = spec.gsd / (111_320.0 * np.cos(np.deg2rad(lat)))
        py = spec.gsd / 110_574.0
    elif spec.crs == "EPSG:3857":
        px = py = spec.gsd / np.cos(np.deg2rad(lat))  # Mercator stretches by 1/cos(lat)
    else:
        px = py = spec.gsd
    return (Affine.translation(xs[0], ys[0]) @ Affine.rotation(spec.rotation)
            @ Affine.scale(px, -py) @ Affine.translation(-width / 2, -height / 2))


def render_field(spec: SceneSpec, shape: tuple[int, int], seed: int) -> np.ndarray:
    """The H×W×5 physical field of a scene (or its canvas, for shared-ground scenes)."""
    return render.compose(shape, spec_rng(seed, spec.canvas or spec.name), spec.style, spec.gsd)


def sensor_pixels(spec: SceneSpec, field: np.ndarray, seed: int) -> np.ndarray:
    """Field to the scene's pixels, bands last: uint8 RGB, uint16 4-band or float32 SAR."""
    rng = spec_rng(seed, spec.name + "/sensor")
    if spec.kind == "s2":
        return render.to_multispectral(field, rng)
    if spec.kind == "s1":
        return render.to_sar(field, rng)[..., None]
    return render.to_rgb8(field, rng)


def apply_collar(spec: SceneSpec, pixels: np.ndarray, seed: int) -> np.ndarray:
    """Blank the area outside the valid footprint with 0 (the nodata value)."""
    h, w = pixels.shape[:2]
    if spec.collar == "rotated":
        angle = float(spec_rng(seed, spec.name + "/collar").uniform(20, 35))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)  # same GSD, corners cut
        out = np.stack([cv2.warpAffine(pixels[..., i], m, (w, h), flags=cv2.INTER_LINEAR,
                                       borderValue=0) for i in range(pixels.shape[2])], axis=-1)
        valid = cv2.warpAffine(np.ones((h, w), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
        return np.where(valid[..., None] > 0, np.maximum(out, 1), 0).astype(pixels.dtype)
    if spec.collar == "swath":
        y, x = np.mgrid[0:h, 0:w]
        return np.where((x + 0.35 * y < 0.45 * w)[..., None], 0, pixels).astype(pixels.dtype)
    return pixels


def geotiff_profile(spec: SceneSpec, pixels: np.ndarray, transform: Affine) -> dict:
    """Tiled (256), deflate-compressed GeoTIFF profile with nodata 0."""
    h, w, bands = pixels.shape
    profile = {
        "driver": "GTiff", "width": w, "height": h, "count": bands, "dtype": pixels.dtype.name,
        "crs": CRS.from_string(spec.crs), "transform": transform, "nodata": 0,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
        "predictor": 3 if pixels.dtype == np.float32 else 2,
    }
    if bands == 3:
        profile["photometric"] = "RGB"
    return profile


def write_geotiff(dst_path, spec: SceneSpec, pixels: np.ndarray, transform: Affine) -> None:
    """Write pixels (bands last) with band names and the acquisition date tag."""
    names = {"s2": ("B2", "B3", "B4", "B8"), "s1": ("VV",)}.get(spec.kind, ("red", "green", "blue"))
    with rasterio.open(dst_path, "w", **geotiff_profile(spec, pixels, transform)) as dst:
        dst.write(np.moveaxis(pixels, -1, 0))
        dst.update_tags(TIFFTAG_DATETIME=spec.date)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)


def write_truncated(path: Path, spec: SceneSpec, pixels: np.ndarray, transform: Affine) -> None:
    """A cloud-optimized layout (header first) cut at 40 %: opens, but reading all pixels fails."""
    with MemoryFile() as mem:
        write_geotiff(mem.name, spec, pixels, transform)
        with mem.open() as src:
            rasterio.shutil.copy(src, path, driver="COG", blocksize=256, compress="deflate",
                                 overviews="NONE")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])


def write_scene(spec: SceneSpec, pixels: np.ndarray, transform: Affine | None, out_dir: Path
                ) -> Path:
    """Write one scene in its format (JPEG without any georeferencing, else GeoTIFF)."""
    path = out_dir / spec.name
    if spec.kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok, spec.name
        path.write_bytes(buf.tobytes())
    elif spec.truncate:
        write_truncated(path, spec, pixels, transform)
    else:
        write_geotiff(path, spec, np.zeros_like(pixels) if spec.blank else pixels, transform)
    return path


def write_sample_scenes(out_dir: Path, *, seed: int = 0, scale: float = 1.0) -> list[Path]:
    """Write the demo scene set into ``out_dir`` and return the paths in catalogue order.

    ``scale`` multiplies every scene's pixel size (GSD unchanged, so footprints shrink).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    canvases: dict[str, tuple[np.ndarray, Affine]] = {}
    paths = []
    for spec in SCENES:
        w, h = scaled(spec.size[0], scale), scaled(spec.size[1], scale)
        if spec.canvas:
            if spec.canvas not in canvases:
                canvases[spec.canvas] = _canvas(spec.canvas, seed, scale)
            whole, canvas_transform = canvases[spec.canvas]
            c0, r0 = (int(round(o * scale)) for o in spec.offset)
            field = whole[r0:r0 + h, c0:c0 + w]
            transform = canvas_transform @ Affine.translation(c0, r0)
        else:
            field = render_field(spec, (h, w), seed)
            transform = geotransform(spec, w, h) if spec.crs else None
        pixels = apply_collar(spec, sensor_pixels(spec, field, seed), seed)
        paths.append(write_scene(spec, pixels, transform, out_dir))
    return paths


def _canvas(key: str, seed: int, scale: float) -> tuple[np.ndarray, Affine]:
    """Render the shared ground of scenes cut from one canvas, and its geotransform.

    The canvas is centred on its first member's ``lonlat``; members are crops at their offsets.
    """
    members = [s for s in SCENES if s.canvas == key]
    cw = max(int(round(s.offset[0] * scale)) + scaled(s.size[0], scale) for s in members)
    ch = max(int(round(s.offset[1] * scale)) + scaled(s.size[1], scale) for s in members)
    return render_field(members[0], (ch, cw), seed), geotransform(members[0], cw, ch)
