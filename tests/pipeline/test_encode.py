import io

import numpy as np
import pytest
import rasterio
from PIL import Image
from affine import Affine

from pipeline.encode import choose_format, decode, encode, supports
from tests.pipeline.rasters import textured


def _tile(bands, dtype="uint8", hi=255):
    return np.ascontiguousarray(np.moveaxis(textured(48, 40, bands, dtype=dtype, hi=hi), 0, 2))


@pytest.mark.parametrize("fmt, bands, dtype, hi", [
    ("png", 1, "uint8", 255), ("png", 3, "uint8", 255),
    ("png", 1, "uint16", 60000), ("webp", 3, "uint8", 255),
    ("npy", 13, "uint16", 10000), ("npy", 2, "float32", 1.0), ("tif", 5, "int16", 3000),
    ("npy.zst", 4, "uint16", 10000), ("npy.zst", 1, "float32", 1.0), ("npz", 6, "uint16", 10000),
    ("npy.zst", 4, "uint8", 255),
])
def test_lossless_roundtrip(fmt, bands, dtype, hi):
    tile = _tile(bands, dtype, hi)
    out = decode(encode(tile, fmt), fmt)
    assert out.dtype == tile.dtype and out.shape == tile.shape
    np.testing.assert_array_equal(out, tile)


def test_png_is_stored_in_rgb_order():
    tile = np.zeros((8, 8, 3), np.uint8)
    tile[..., 0] = 200  # red
    with Image.open(io.BytesIO(encode(tile, "png"))) as im:
        assert im.mode == "RGB" and im.getpixel((0, 0)) == (200, 0, 0)


@pytest.mark.parametrize("bands, dtype, hi", [(3, "uint8", 255), (1, "uint8", 255), (1, "uint16", 60000)])
def test_png_opens_in_other_readers_with_valid_crcs(bands, dtype, hi):
    """Our PNG writer's files are plain PNGs: Pillow (which checks every chunk CRC), OpenCV and
    the loader's decoder read the same pixels, also from a tile that is a strided strip view."""
    import cv2

    from training.png import decode_png

    strip = np.moveaxis(textured(48, 120, bands, dtype=dtype, hi=hi), 0, 2)
    tile = strip[:, 40:80]  # rows strided as the tiler cuts them
    data = encode(tile, "png")
    with Image.open(io.BytesIO(data)) as im:
        im.verify()
    with Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(np.asarray(im).reshape(tile.shape), tile)
    by_cv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    by_cv = cv2.cvtColor(by_cv, cv2.COLOR_BGR2RGB) if bands == 3 else by_cv[:, :, None]
    np.testing.assert_array_equal(by_cv, tile)
    np.testing.assert_array_equal(decode_png(data), tile)
    assert encode(np.ascontiguousarray(tile), "png") == data


def test_jpeg_is_close_and_keeps_channel_order():
    tile = _tile(3)
    tile[..., 0] = 250
    out = decode(encode(tile, "jpg", jpeg_quality=95), "jpg")
    assert out.shape == tile.shape
    assert np.abs(out.astype(int) - tile).mean() < 10  # noisy texture, chroma subsampled
    assert out[..., 0].mean() > 240


def test_lossy_webp():
    tile = _tile(3)
    out = decode(encode(tile, "webp", webp_lossless=False, jpeg_quality=90), "webp")
    assert np.abs(out.astype(int) - tile).mean() < 12


def test_tif_carries_georeferencing():
    tile = _tile(2, "uint16", 4000)
    transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)
    data = encode(tile, "tif", profile={"crs": "EPSG:32631", "transform": transform})
    with rasterio.MemoryFile(data) as mem, mem.open() as src:
        assert src.crs.to_epsg() == 32631 and src.transform == transform and src.count == 2


def test_encoding_is_deterministic():
    tile = _tile(3)
    for fmt in ("png", "jpg", "webp", "npy", "npy.zst", "npz", "tif"):
        assert encode(tile, fmt) == encode(tile.copy(), fmt)


@pytest.mark.parametrize("dtype, bands, rule, expected", [
    ("uint8", 3, "auto", "png"), ("uint8", 1, "auto", "png"), ("uint8", 4, "auto", "npy.zst"),
    ("uint8", 2, "auto", "npy.zst"), ("uint8", 13, "auto", "npy.zst"), ("uint16", 1, "auto", "npy.zst"),
    ("uint16", 4, "auto", "npy.zst"), ("float32", 3, "auto", "npy.zst"), ("uint8", 3, "jpg", "jpg"),
    ("uint16", 4, "tif", "tif"), ("uint16", 6, "npz", "npz"),
])
def test_choose_format(dtype, bands, rule, expected):
    assert choose_format(dtype, bands, rule) == expected


def test_impossible_formats_are_errors():
    assert not supports("jpg", "uint8", 4) and not supports("webp", "uint16", 3)
    # a 4th PNG/WebP channel is alpha to every reader: no sample band may become one
    assert not supports("png", "uint8", 4) and not supports("webp", "uint8", 4)
    assert not supports("png", "uint16", 4)
    with pytest.raises(ValueError, match="cannot hold"):
        choose_format("uint16", 3, "jpg")
    with pytest.raises(ValueError, match="unknown"):
        choose_format("uint8", 3, "bmp")
    with pytest.raises(ValueError):
        encode(np.zeros((4, 4, 13), np.uint8), "png")
