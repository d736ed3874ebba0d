"""Sample codecs: bytes per sample and decode samples/s per core, per (dtype, band count).

Tiles (256 x 256, the build's default tile size) are cut at run time from the real files in
``/work/shared/realdata`` (or ``$RINGMO_REALDATA``) when present: the 6-band uint16 Sentinel-2
stack, the 4-band uint16 Landsat-8 stack and its first band alone, the float32 Sentinel-1 RTC
(its NaN/0 fill kept), and a uint8 RGB aerial image. Without that folder, generated
imitations stand in (smooth texture + sensor noise in the same dtypes and value ranges), and
the figure names say "generated".

Codecs (all lossless; each decodes in plain ``webdataset``, directly or with the one-liner in
README's "Sample format"): raw ``.npy``; ``.npz`` (``np.savez_compressed``: zip deflate, which
webdataset decodes natively); ``.npy.zst`` (``.npy`` bytes through zstd, ``pipeline.encode.ZSTD_LEVEL``); GeoTIFF
deflate and zstd with a horizontal predictor (2 for integers, 3 for floats) read through
rasterio's in-memory reader; 16-bit PNG for 1 band (the packer's writer); PNG / lossless WebP for uint8.

The ratio column is the codec's *delivery cost* against raw ``.npy``: a loader core has to
fetch the bytes and decode them, so one sample costs ``bytes / 100 MB/s + decode CPU time``
(100 MB/s: what one core streams from an object store or a network disk; decode time is CPU
time of this process, so other load on the machine does not count). Ratio > 1 means cheaper
than raw npy. Per dtype, the row marked "chosen" (costs summed over that dtype's layouts) is the
smallest codec within 5 % of the cheapest (:func:`choose`, :func:`pooled`);
``pipeline.encode.DEFAULT_CODEC`` is that choice for every layout except uint8 grey/RGB, which
stay PNG so any image viewer and ``.decode("rgb8")`` open them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from benchmarks.figures import Figure

NAME = "codecs"
TILE = 256
LINK_BYTES_PER_S = 100e6  # one loader core's share of the network/object-store bandwidth
_REAL = Path(os.environ.get("RINGMO_REALDATA", "/work/shared/realdata"))


def _read(path: Path, bands=None) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        data = src.read(bands)
    return np.moveaxis(data, 0, 2) if data.ndim == 3 else data[:, :, None]


def _cut(image: np.ndarray, limit: int) -> list[np.ndarray]:
    h, w = image.shape[:2]
    tiles = [image[r:r + TILE, c:c + TILE] for r in range(0, h - TILE + 1, TILE)
             for c in range(0, w - TILE + 1, TILE)]
    return [np.ascontiguousarray(t) for t in tiles[:limit]]


def _generated(rng, dtype: str, bands: int, n: int) -> list[np.ndarray]:
    """Smooth multi-scale texture plus noise, scaled to the dtype's typical range."""
    import cv2

    out = []
    for _ in range(n):
        img = np.zeros((TILE, TILE, bands), np.float32)
        for cells, weight in ((4, 0.6), (16, 0.3), (64, 0.1)):
            noise = rng.random((cells, cells, bands)).astype(np.float32)
            img += weight * cv2.resize(noise, (TILE, TILE), interpolation=cv2.INTER_CUBIC).reshape(img.shape)
        img += rng.normal(0, 0.01, img.shape).astype(np.float32)
        if dtype == "uint8":
            out.append(np.clip(img * 230, 0, 255).astype(np.uint8))
        elif dtype == "uint16":
            out.append(np.clip(800 + img * 3000, 0, 65535).astype(np.uint16))
        else:  # SAR gamma0, linear power: log-normal around 0.05
            out.append((0.05 * np.exp(2.0 * (img - 0.5))).astype(np.float32))
    return out


def corpora(quick: bool) -> list[tuple[str, list[np.ndarray]]]:
    """``(name, tiles)`` per layout: real tiles when the folder exists, else generated ones."""
    n = 4 if quick else 16
    geo = _REAL / "geotiff"
    real = [
        ("S2 6-band uint16", geo / "sattest_S2_T18SVG_20160112_20m_6band_stack.tif", None),
        ("L8 4-band uint16", geo / "sattest_L8_LC80200392015216LGN00_B2-B5_stack.tif", None),
        ("L8 1-band uint16", geo / "sattest_L8_LC80200392015216LGN00_B2-B5_stack.tif", [1]),
        ("S1 RTC 1-band float32", geo / "riotiler_S1B_RTC_gamma0_VV_20200106.tif", [1]),
        ("aerial RGB uint8", geo / "rasterio_cogeo.tif", None),
    ]
    spec = {"S2 6-band uint16": ("uint16", 6), "L8 4-band uint16": ("uint16", 4),
            "L8 1-band uint16": ("uint16", 1), "S1 RTC 1-band float32": ("float32", 1),
            "aerial RGB uint8": ("uint8", 3)}
    rng = np.random.default_rng(0)
    out = []
    for name, path, bands in real:
        if path.exists():
            out.append((name, _cut(_read(path, bands), n)))
        else:
            dtype, count = spec[name]
            out.append((f"{name} (generated)", _generated(rng, dtype, count, n)))
    return out


def _tif(array: np.ndarray, compress: str) -> bytes:
    from pipeline.encode import encode_tif

    return encode_tif(array, compress=compress)


def codecs_for(array: np.ndarray) -> dict:
    """``{name: (encode, decode)}`` of the codecs that hold this layout losslessly."""
    from pipeline import encode as enc
    from training.decode import decode_image

    def pair(fmt):
        return (lambda a: enc.encode(a, fmt)), (lambda b: decode_image(b, fmt))

    table = {"npy": pair("npy"), "npz": pair("npz"), "npy.zst": pair("npy.zst")}
    table["tif deflate+pred"] = ((lambda a: _tif(a, "deflate")), (lambda b: decode_image(b, "tif")))
    table["tif zstd+pred"] = ((lambda a: _tif(a, "zstd")), (lambda b: decode_image(b, "tif")))
    bands, dtype = array.shape[2], array.dtype
    if (dtype == np.uint16 and bands <= 4) or (dtype == np.uint8 and bands in (1, 3)):
        table["png"] = pair("png")  # uint16 with 3-4 bands is measured, but never chosen (alpha)
    if dtype == np.uint8 and bands == 3:
        table["webp lossless"] = pair("webp")
    return table


def _png16(array: np.ndarray) -> bytes:
    """16-bit PNG of 1, 3 or 4 bands (the project never writes 3-4 band uint16 PNG: readers
    take a 4th channel as alpha, and webdataset's decoders cut them to 8 bits)."""
    from pipeline.encode import encode_png

    return encode_png(array)


def eligible(codec: str, tile: np.ndarray) -> bool:
    """Whether a codec may be a default: lossless and every band decodes in plain webdataset
    (PNG beyond uint8 grey/RGB and 16-bit grey is out: alpha, or 8-bit webdataset decoding)."""
    if codec != "png":
        return True
    return tile.shape[2] == 1 or (tile.dtype == np.uint8 and tile.shape[2] == 3)


def measure(tiles: list[np.ndarray], encode, decode, repeat: int) -> tuple[float, float]:
    """(mean bytes per sample, decode samples/s on one core); checks the round trip."""
    blobs = [encode(t) for t in tiles]
    for t, b in zip(tiles, blobs):
        back = decode(b)
        assert back.shape == t.shape and np.array_equal(back, t, equal_nan=t.dtype.kind == "f"), "lossy"
    start = time.process_time()  # CPU seconds of this process: per core, robust to other load
    for _ in range(repeat):
        for b in blobs:
            decode(b)
    rate = repeat * len(blobs) / max(time.process_time() - start, 1e-9)
    return float(np.mean([len(b) for b in blobs])), rate


def cost(nbytes: float, rate: float) -> float:
    """Seconds one loader core spends to deliver a sample: fetch at 100 MB/s + decode."""
    return nbytes / LINK_BYTES_PER_S + 1.0 / rate


def choose(rows: list[tuple], tie: float = 0.05) -> tuple:
    """The default of a layout: the smallest codec whose delivery cost is within ``tie`` (5 %,
    about the run-to-run noise) of the cheapest; bytes also cost disk and object-store money."""
    cheapest = min(r[4] for r in rows)
    return min((r for r in rows if r[4] <= cheapest * (1 + tie)), key=lambda r: r[2])


def table_rows(quick: bool, layouts) -> list[tuple[str, str, float, float, float]]:
    """``(layout, codec, bytes, decode/s, cost)`` for every layout and codec."""
    rows = []
    for name, tiles in layouts:
        repeat = 2 if quick else 10
        for codec, (enc, dec) in codecs_for(tiles[0]).items():
            if codec == "png" and tiles[0].dtype == np.uint16:
                enc = _png16
            try:
                nbytes, rate = measure(tiles, enc, dec, repeat)
            except AssertionError:
                continue  # a codec that does not give the array back (e.g. 16-bit RGBA PNG)
            rows.append((name, codec, nbytes, rate, cost(nbytes, rate)))
    return rows


def pooled(rows: list[tuple], layouts) -> dict[str, list[tuple]]:
    """Per dtype: ``(dtype, codec, bytes, decodes/s, cost)`` summed over its layouts, for the
    codecs eligible in all of them. The default is decided per dtype, not per band count: the
    band counts of one dtype differ by a few % (run-to-run noise), which must not flip it."""
    first = {name: tiles[0] for name, tiles in layouts}
    out: dict[str, list[tuple]] = {}
    for dtype in dict.fromkeys(str(t.dtype) for t in first.values()):
        names = [n for n, t in first.items() if str(t.dtype) == dtype]
        codecs = [c for c in dict.fromkeys(r[1] for r in rows if r[0] in names)
                  if all(eligible(c, first[n]) and any(r[:2] == (n, c) for r in rows) for n in names)]
        sums = []
        for codec in codecs:
            mine = [r for r in rows if r[0] in names and r[1] == codec]
            sums.append((dtype, codec, sum(r[2] for r in mine), len(mine) / sum(1 / r[3] for r in mine),
                         sum(r[4] for r in mine)))
        out[dtype] = sums
    return out


def run(quick: bool) -> list[Figure]:
    figures = []
    layouts = corpora(quick)
    rows = table_rows(quick, layouts)
    for layout in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == layout]
        npy = next(r for r in mine if r[1] == "npy")
        for _, codec, nbytes, rate, c in mine:
            figures.append(Figure(NAME, f"{layout}: {codec}, KB/sample", nbytes / 1e3, npy[2] / 1e3,
                                  "raw npy", "KB", npy[2] / nbytes, "size ratio (npy/this)"))
            figures.append(Figure(NAME, f"{layout}: {codec}, decode samples/s/core", rate, npy[3], "raw npy",
                                  "samples/s", rate / npy[3], ""))
            figures.append(Figure(NAME, f"{layout}: {codec}, delivery cost (100 MB/s + decode)", c * 1e3,
                                  npy[4] * 1e3, "raw npy", "ms/sample", npy[4] / c, "> 1: cheaper than npy"))
    for dtype, sums in pooled(rows, layouts).items():
        best, npy = choose(sums), next(r for r in sums if r[1] == "npy")
        for _, codec, nbytes, _, c in sums:
            star = " (chosen)" if codec == best[1] else ""
            figures.append(Figure(NAME, f"all {dtype} layouts: {codec}{star}, delivery cost (sum)", c * 1e3,
                                  npy[4] * 1e3, "raw npy", "ms/sample", npy[4] / c, "> 1: cheaper than npy"))
    return figures
