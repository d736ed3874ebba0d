"""The loader's PNG decoder (``training.png``) against OpenCV and Pillow on every filter type."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from training.png import decode_png, png_header

FILTERS = {"none": cv2.IMWRITE_PNG_FILTER_NONE, "sub": cv2.IMWRITE_PNG_FILTER_SUB, "up": cv2.IMWRITE_PNG_FILTER_UP,
           "avg": cv2.IMWRITE_PNG_FILTER_AVG, "paeth": cv2.IMWRITE_PNG_FILTER_PAETH}


def _image(height: int, width: int, bands: int, dtype, seed: int = 0) -> np.ndarray:
    """Smooth content (so every filter predicts something) with rows of noise (wrap-around)."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.random((height, width, bands)).astype(np.float32), (0, 0), 3)
    field = field.reshape(height, width, bands)
    field = (field - field.min()) / (np.ptp(field) + 1e-9)
    out = (field * np.iinfo(dtype).max).astype(dtype)
    out[::7] = rng.integers(0, np.iinfo(dtype).max, out[::7].shape, dtype=dtype)
    return out


def _opencv_png(image: np.ndarray, png_filter: int) -> bytes:
    bgr = image[:, :, [2, 1, 0, 3][: image.shape[2]]] if image.shape[2] >= 3 else image
    return cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_FILTER, png_filter])[1].tobytes()


@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("bands, dtype", [(1, np.uint8), (3, np.uint8), (4, np.uint8), (1, np.uint16),
                                          (3, np.uint16), (4, np.uint16)])
def test_every_filter_decodes_exactly(name, bands, dtype):
    image = _image(37, 53, bands, dtype)
    data = _opencv_png(image, FILTERS[name])
    assert png_header(data) == (37, 53, np.dtype(dtype).itemsize * 8, {1: 0, 3: 2, 4: 6}[bands], 0)
    decoded = decode_png(data)
    assert decoded.dtype == dtype and np.array_equal(decoded, image)
    assert np.array_equal(decode_png(data, rows=10), image[:10])  # the top rows only


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_pillows_adaptive_filters_decode_exactly(mode):
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1}[mode]
    image = _image(41, 67, bands, np.uint16 if mode == "I;16" else np.uint8, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if bands == 1 else image, mode=None if mode == "I;16" else mode).save(buffer, "PNG", optimize=True)
    assert np.array_equal(decode_png(buffer.getvalue()), image)


def test_unsupported_pngs_are_left_to_the_general_decoder():
    """Palette and interlaced PNGs return None; ``decode_image`` then gives OpenCV's pixels."""
    from training.decode import decode_image

    rgb = _image(20, 24, 3, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(buffer, "PNG")
    assert decode_png(buffer.getvalue()) is None
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert np.array_equal(decode_image(buffer.getvalue(), "png"), expected)
    interlaced = io.BytesIO()
    Image.fromarray(rgb).save(interlaced, "PNG", interlace=1)
    if png_header(interlaced.getvalue())[4]:  # Pillow writes Adam7 only in some versions
        assert decode_png(interlaced.getvalue()) is None
        assert np.array_equal(decode_image(interlaced.getvalue(), "png"), rgb)


def test_damaged_pngs_raise_value_error():
    data = _opencv_png(_image(16, 16, 3, np.uint8), FILTERS["sub"])
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a" + data[6:])
    with pytest.raises(ValueError, match="rows"):
        decode_png(data[: len(data) // 2] + data[-12:])  # half the IDAT: the stream ends early
    empty = data[:16] + (0).to_bytes(4, "big") + data[20:]  # a width of 0 (IHDR CRC not checked)
    with pytest.raises(ValueError, match="0x16"):
        decode_png(empty)
    without_idat = data[:33] + data[-12:]  # signature + IHDR + IEND
    with pytest.raises(ValueError, match="IDAT"):
        decode_png(without_idat)


@pytest.mark.parametrize("bands, dtype", [(3, np.uint8), (1, np.uint16), (4, np.uint16)])
def test_decoding_into_a_batch_slot_gives_the_same_pixels_in_place(bands, dtype):
    """A slot of the PNG's size and dtype is filled (top rows only when asked) and returned as a
    view of it; a slot that does not fit is left untouched."""
    from training.png import png_array

    image = _image(29, 31, bands, dtype, seed=3)
    data = _opencv_png(image, FILTERS["up"])
    assert png_array(data) == ((29, 31, bands), np.dtype(dtype))
    slot = np.full((29, 31, bands), 5, dtype)
    top = decode_png(data, rows=12, out=slot)
    assert np.shares_memory(top, slot) and np.array_equal(top, image[:12]) and (slot[12:] == 5).all()
    assert np.array_equal(decode_png(data, out=slot), image) and np.array_equal(slot, image)
    other = np.zeros((29, 30, bands), dtype)
    assert np.array_equal(decode_png(data, out=other), image) and not other.any()
    assert png_array(b"GIF89a" + data[6:]) is None
