"""Encode samples to bytes and back, for every sample format of the shard contract.

Arrays are channels-last ``[H, W, C]`` in sample band order everywhere in the project;
OpenCV's BGR order is confined to this module.

PNG is written here: the UP prediction filter (numpy, one subtraction per tile) and ISA-L's
deflate at level 2 (``isal``, also the loader's inflate). Measured on this machine against
OpenCV's libpng with the same filter and Huffman-only zlib (the setting before, itself 2.3x
faster than OpenCV's level-1 default): real RGB tiles of ``../shared/realdata`` (Landsat,
Sentinel-2 true colour, aerial COGs) encode 4x faster and come out 15-18 % smaller (25 tiles
of 256 px: 0.66 vs 2.6 ms, 96 vs 113 KB; 512 px: 3.6 vs 15 ms, 382 vs 465 KB), and the
loader inflates them faster (0.45 vs 0.58 ms at 256 px). On noise-like content (the
benchmarks' generated scenes) LZ77 finds little and ISA-L's output is up to ~20 % larger.
ISA-L (bundled by ``isal``) makes the same choices on every x86-64 with SSE4.2 or later, so
with one ``isal`` version the same pixels give the same bytes on every node. UP rather than
SUB: the same bytes within 0.1 % and the same encode speed (60 loader tiles; real Landsat,
aerial and Sentinel-2 RGB tiles), but undoing UP adds the row above, independent across a row,
which the loader's decoder (:mod:`training.png`) runs vectorized: 0.6-1.6 ms less per 512 px
tile (the loader reads every tile once an epoch, the tiler writes it once).
The files are ordinary PNGs: any reader decodes them.
"""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
from isal import isal_zlib
from PIL import Image

from catalogs.pngformat import COLOUR_TYPE, SIGNATURE

FORMATS = ("png", "jpg", "webp", "npy", "npz", "npy.zst", "tif")
ZSTD_LEVEL = 1  # level 3: 1-6 % smaller, 1.5-2.5x slower to write (the tiler is encode-bound)
PNG_LEVEL = 2  # ISA-L's default: level 1 is as fast and up to 2 % larger, level 3 ~1.7x slower
_UP = 2  # PNG filter type byte

_TO_CV = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}
_FROM_CV = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}


def _hwc(array: np.ndarray) -> np.ndarray:
    return array[:, :, None] if array.ndim == 2 else array


def supports(fmt: str, dtype, bands: int) -> bool:
    """Whether ``fmt`` can hold ``bands`` bands of ``dtype`` losslessly in layout."""
    dt = np.dtype(dtype)
    if fmt in ("npy", "npz", "npy.zst", "tif"):
        return True
    if fmt == "png":  # a 4th PNG channel is alpha to every reader: samples have no alpha band
        return (dt == np.uint8 and bands in (1, 3)) or (dt == np.uint16 and bands == 1)
    if fmt == "jpg":
        return dt == np.uint8 and bands in (1, 3)
    if fmt == "webp":
        return dt == np.uint8 and bands == 3
    return False


#: The lossless default of every layout but uint8 grey/RGB, chosen by ``python -m benchmarks
#: codecs`` (BENCHMARKS.md) on real 256 px tiles: per dtype, the smallest codec within 5 % of
#: the cheapest "fetch at 100 MB/s + decode" per sample. ``.npy`` through zstd wins for uint16
#: (summed over the S2 6-band, L8 4- and 1-band layouts: 14.4 ms vs 14.8 for raw npy, 12-20 %
#: smaller) and float32 (S1 RTC: 105 KB, 1.3 ms vs 262 KB, 2.7 ms). GeoTIFF zstd+predictor is
#: ~10 % smaller again but its in-memory reader decodes 3-4x slower (16.9 ms for uint16); npz,
#: natively decoded by webdataset, decodes 4x slower (deflate).
DEFAULT_CODEC = "npy.zst"


def default_format(dtype, bands: int) -> str:
    """uint8 grey/RGB: PNG (any viewer opens it, a plain webdataset ``.decode("rgb8")`` too);
    everything else: :data:`DEFAULT_CODEC`, never an image format that would read a band as
    alpha."""
    dt = np.dtype(dtype)
    if dt == np.uint8 and bands in (1, 3):
        return "png"
    return DEFAULT_CODEC


def choose_format(dtype, bands: int, rule_format: str = "auto") -> str:
    """The sample format: the rule's if it fits the data, else the measured default (png for
    uint8 grey or RGB, :data:`DEFAULT_CODEC` otherwise). An impossible format is an error."""
    if rule_format != "auto":
        if rule_format not in FORMATS:
            raise ValueError(f"unknown sample format {rule_format!r}; expected one of {FORMATS}")
        if not supports(rule_format, dtype, bands):
            raise ValueError(f"format {rule_format} cannot hold {bands} band(s) of {np.dtype(dtype)}")
        return rule_format
    return default_format(dtype, bands)


def _cv_encode(ext: str, array: np.ndarray, params: list[int]) -> bytes:
    bands = array.shape[2]
    img = cv2.cvtColor(array, _TO_CV[bands]) if bands in _TO_CV else array[:, :, 0]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(img), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.shape} {array.dtype} array as {ext}")
    return buf.tobytes()


def _png_chunk(kind: bytes, data) -> bytes:
    return b"".join((struct.pack(">I", len(data)), kind, data,
                     struct.pack(">I", isal_zlib.crc32(data, isal_zlib.crc32(kind)))))


def encode_png(array: np.ndarray) -> bytes:
    """An 8- or 16-bit ``[H, W, C]`` array (1-4 bands) as a PNG: every row UP-filtered (its
    difference to the row above, mod 256), the rows deflated by ISA-L in one IDAT chunk. Samples
    hold 1 or 3 bands only (:func:`supports`: readers take a 2nd or 4th channel as alpha)."""
    h, w, c = array.shape
    depth = array.dtype.itemsize * 8
    if depth == 16:
        array = array.astype(">u2")  # PNG samples are big-endian
    rows = array.reshape(h, w * c).view(np.uint8)  # a strided tile view stays a view
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = _UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8: wraps mod 256
    header = struct.pack(">IIBBBBB", w, h, depth, COLOUR_TYPE[c], 0, 0, 0)
    return b"".join((SIGNATURE, _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", isal_zlib.compress(filtered, PNG_LEVEL)), _png_chunk(b"IEND", b"")))


def encode_tif(array: np.ndarray, profile: dict | None = None, compress: str = "deflate") -> bytes:
    """A GeoTIFF with a horizontal predictor (2 for integers, 3 for floats): residuals of
    smooth imagery compress far better than the values themselves."""
    from rasterio.io import MemoryFile

    h, w, c = array.shape
    meta = {"driver": "GTiff", "width": w, "height": h, "count": c, "dtype": str(array.dtype)}
    meta.update({"compress": compress, "predictor": 3 if array.dtype.kind == "f" else 2})
    for key in ("crs", "transform", "nodata"):
        if profile and profile.get(key) is not None:
            meta[key] = profile[key]
    with MemoryFile() as mem:
        with mem.open(**meta) as dst:
            dst.write(np.moveaxis(array, 2, 0))
        return bytes(mem.read())


def encode(array: np.ndarray, fmt: str, *, jpeg_quality: int = 95, webp_lossless: bool = True,
           profile: dict | None = None) -> bytes:
    """Encode an ``[H, W, C]`` sample. ``profile`` (crs, transform, nodata) is used by ``tif``."""
    array = _hwc(array)
    if not supports(fmt, array.dtype, array.shape[2]):
        raise ValueError(f"format {fmt} cannot hold {array.shape[2]} band(s) of {array.dtype}")
    if fmt == "png":
        return encode_png(array)
    if fmt == "jpg":
        return _cv_encode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if fmt == "webp":
        buf = io.BytesIO()
        image = Image.fromarray(np.ascontiguousarray(array))
        if webp_lossless:
            image.save(buf, format="WEBP", lossless=True, method=0, exact=True)
        else:
            image.save(buf, format="WEBP", quality=int(jpeg_quality), method=4)
        return buf.getvalue()
    if fmt in ("npy", "npy.zst"):
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        return buf.getvalue() if fmt == "npy" else _zstd().compress(buf.getvalue())
    if fmt == "npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, image=np.ascontiguousarray(array))
        return buf.getvalue()
    return encode_tif(array, profile)


def _zstd():
    """A zstd compressor (content size in the frame, so ``zstandard.decompress`` works)."""
    import zstandard

    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)


def decode(data: bytes, fmt: str) -> np.ndarray:
    """Decode bytes written by :func:`encode` back to an ``[H, W, C]`` array."""
    if fmt in ("png", "jpg"):
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"OpenCV could not decode {len(data)} bytes as {fmt}")
        img = _hwc(img)
        return cv2.cvtColor(img, _FROM_CV[img.shape[2]]) if img.shape[2] in _FROM_CV else img
    if fmt == "webp":
        with Image.open(io.BytesIO(data)) as image:
            return _hwc(np.asarray(image))
    if fmt == "npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if fmt == "npy.zst":
        import zstandard

        return np.load(io.BytesIO(zstandard.decompress(data)), allow_pickle=False)
    if fmt == "npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return archive["image"]
    if fmt == "tif":
        from rasterio.io import MemoryFile

        with MemoryFile(data) as mem, mem.open() as src:
            return np.moveaxis(src.read(), 0, 2)
    raise ValueError(f"unknown sample format {fmt!r}; expected one of {FORMATS}")
