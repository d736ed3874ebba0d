"""From the bytes of one sample (a tar fragment) to ``(key, image [H, W, C], metadata)``.

A fragment is what the catalog's ``(offset, size)`` of a sample delimits in its shard: the tar
members ``KEY.<fmt>`` and ``KEY.json``, parsed by :mod:`catalogs.tarformat` (the one owner of
the sample format). Images are returned channels-last in the sample's band order (OpenCV's BGR
is undone here) and in their native dtype.
"""

from __future__ import annotations

import io
import json

import cv2
import numpy as np

from catalogs.errors import SampleError
from catalogs.tarformat import parse_fragment
from training.png import decode_png, png_header
from training.transforms import apply_draws, draw, reduced_draws, shrink_scale

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "npy", "npz", "npy.zst", "tif", "tiff")
_FROM_CV = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}


def _hwc(array: np.ndarray) -> np.ndarray:
    return array[:, :, None] if array.ndim == 2 else array


def decode_image(payload, ext: str) -> np.ndarray:
    """Decode one image member to ``[H, W, C]`` in its native dtype and band order."""
    if ext == "npy":
        array = np.load(io.BytesIO(payload), allow_pickle=False)
        return _hwc(array)
    if ext == "npy.zst":  # plain webdataset: handle_extension("npy.zst", this one-liner)
        import zstandard

        return _hwc(np.load(io.BytesIO(zstandard.decompress(bytes(payload))), allow_pickle=False))
    if ext == "npz":  # plain webdataset decodes it natively: sample["npz"]["image"]
        with np.load(io.BytesIO(bytes(payload)), allow_pickle=False) as archive:
            return _hwc(archive["image"])
    if ext in ("tif", "tiff"):
        from rasterio.io import MemoryFile

        with MemoryFile(bytes(payload)) as mem, mem.open() as src:
            return np.moveaxis(src.read(), 0, 2)
    if ext == "png":  # ISA-L inflate: 1.3-1.6x libspng, 1.4-1.9x OpenCV per core (training.png)
        array = decode_png(payload)
        if array is not None:
            return array
    array = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise SampleError(f"OpenCV could not decode a {ext} member")
    if array.ndim == 3 and array.shape[2] in _FROM_CV:
        array = cv2.cvtColor(array, _FROM_CV[array.shape[2]])
    return _hwc(array)


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_REDUCED = {(1, 2): cv2.IMREAD_REDUCED_GRAYSCALE_2, (1, 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
            (1, 8): cv2.IMREAD_REDUCED_GRAYSCALE_8, (3, 2): cv2.IMREAD_REDUCED_COLOR_2,
            (3, 4): cv2.IMREAD_REDUCED_COLOR_4, (3, 8): cv2.IMREAD_REDUCED_COLOR_8}


def jpeg_header(payload) -> tuple[int, int, int] | None:
    """``(height, width, components)`` from a JPEG's start-of-frame segment, None when not found."""
    data = memoryview(payload)
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            return (data[i + 5] << 8 | data[i + 6], data[i + 7] << 8 | data[i + 8], data[i + 9])
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            i += 2
            continue
        i += 2 + (data[i + 2] << 8 | data[i + 3])
    return None


def decode_jpeg_reduced(payload, scale: int, components: int) -> np.ndarray:
    """``[ceil(H / scale), ceil(W / scale), C]`` RGB or grey: libjpeg's DCT-domain downscaling
    (``scale`` 2, 4 or 8), several times cheaper than a full decode followed by a shrink."""
    array = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), _REDUCED[components, scale])
    if array is None:
        raise SampleError("OpenCV could not decode a jpg member")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    return _hwc(array)


def image_member(fragment: bytes | memoryview) -> tuple[str, dict, str, memoryview]:
    """``(key, metadata, ext, payload)`` of a sample fragment: its image member is the first of
    ``IMAGE_EXTENSIONS`` it holds."""
    sample = parse_fragment(fragment)
    key = sample["__key__"]
    meta = json.loads(bytes(sample["json"])) if "json" in sample else {}
    for ext in IMAGE_EXTENSIONS:
        if ext in sample:
            return key, meta, ext, sample[ext]
    raise SampleError(f"sample {key} has no image member (extensions {sorted(sample)})")


def decode_sample(fragment: bytes | memoryview, window=None) -> tuple[str, np.ndarray, dict]:
    """``(key, image [H, W, C], metadata)`` of one sample fragment (:func:`decode_member`)."""
    return decode_member(image_member(fragment), window)


def decode_member(member: tuple[str, dict, str, memoryview], window=None,
                  out: np.ndarray | None = None) -> tuple[str, np.ndarray, dict]:
    """``(key, image [H, W, C], metadata)`` of an :func:`image_member`.

    ``window(ext, height, width) -> (scale, rows)`` (optional) is asked, once, for a JPEG or PNG
    image's size before it is decoded: a JPEG is then decoded ``scale`` (2, 4 or 8) times
    smaller (:func:`decode_jpeg_reduced`), a PNG only down to row ``rows`` (the image returned
    is that much shorter). Other images are decoded whole without asking. A PNG that fits ``out``
    (a batch slot: :func:`training.png.decode_png`) is decoded into it.
    """
    key, meta, ext, payload = member
    try:
        return key, _decode_windowed(payload, ext, window, out), meta
    except SampleError:
        raise
    except Exception as exc:  # codec libraries raise anything; name the sample
        raise SampleError(f"sample {key}: cannot decode {ext}: {exc}") from exc


def _decode_windowed(payload, ext: str, window, out: np.ndarray | None = None) -> np.ndarray:
    if window is not None and ext in ("jpg", "jpeg"):
        header = jpeg_header(payload)
        if header is not None and header[2] in (1, 3):
            scale, _ = window(ext, header[0], header[1])
            if scale > 1:
                return decode_jpeg_reduced(payload, scale, header[2])
    elif window is not None and ext == "png":
        header = png_header(payload)
        if header is not None:
            _, rows = window(ext, header[0], header[1])
            image = decode_png(payload, rows, out)
            if image is not None:
                return image
    return decode_image(payload, ext)


def decode_drawn(member: tuple[str, dict, str, memoryview], cfg, rng: np.random.Generator,
                 reduced_jpeg: bool = True, out: np.ndarray | None = None):
    """``(key, image, metadata, draws, size)``: an :func:`image_member` decoded as far as its
    random crop needs, with ``training.transforms.draw``'s draws in the decoded image's scale.

    The draws are taken from the image header's size before it is decoded (the same draws, in
    the same order, as ``augment`` takes), so only what the crop needs is decoded: a PNG down to
    the crop's last row (``image`` is then that much shorter than the tile), and with
    ``reduced_jpeg`` a JPEG whose crop shrinks >= 2x at 1/2, 1/4 or 1/8 scale (near-identical
    pixels, a cheaper decode). ``size`` is the tile's own ``(height, width)``. A PNG that fits
    ``out`` is decoded into it (:func:`decode_member`).
    """
    drawn = []  # (draws in the decoded scale, the tile's size)

    def window(ext: str, height: int, width: int) -> tuple[int, int]:
        draws = draw(height, width, cfg, rng)
        scale = shrink_scale(draws, cfg.img_size) if reduced_jpeg and ext != "png" else 1
        drawn.append((reduced_draws(draws, scale), (height, width)))
        return scale, int(draws[0] + draws[2])

    key, image, meta = decode_member(member, window, out)
    if drawn:
        return key, image, meta, *drawn[0]
    return key, image, meta, draw(image.shape[0], image.shape[1], cfg, rng), image.shape[:2]


def decode_augmented(fragment: bytes | memoryview, cfg, rng: np.random.Generator,
                     reduced_jpeg: bool = True) -> tuple[str, np.ndarray, dict]:
    """``(key, tile [S, S, C], metadata)``: the sample decoded (:func:`decode_drawn`) and
    cropped, resized, flipped and turned as ``training.transforms.augment`` would with ``cfg``
    and ``rng``."""
    key, image, meta, draws, _ = decode_drawn(image_member(fragment), cfg, rng, reduced_jpeg)
    return key, apply_draws(image, draws, cfg.img_size), meta
