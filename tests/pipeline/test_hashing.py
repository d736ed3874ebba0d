import cv2
import numpy as np
import pytest

from pipeline.hashing import hamming, phash_batch, pixel_hash
from tests.pipeline.rasters import textured


def _image(seed, size=256):
    return np.ascontiguousarray(np.moveaxis(textured(size, size, 3, seed=seed), 0, 2))


def test_pixel_hash_is_exact():
    a = _image(0)
    assert pixel_hash(a) == pixel_hash(a.copy())
    assert len(pixel_hash(a)) == 32
    b = a.copy()
    b[10, 10, 1] ^= 1
    assert pixel_hash(b) != pixel_hash(a)


def test_pixel_hash_includes_dtype_and_shape():
    a = np.zeros((4, 4, 2), np.uint8)
    assert pixel_hash(a) != pixel_hash(a.reshape(4, 8, 1))
    assert pixel_hash(a) != pixel_hash(np.zeros((4, 4, 1), np.uint16))


def test_pixel_hash_of_a_view_equals_hash_of_its_copy():
    big = _image(1)
    view = big[10:74, 20:84]
    assert pixel_hash(view) == pixel_hash(np.ascontiguousarray(view))


def test_phash_robust_to_jpeg_reencode():
    images = [_image(s) for s in range(8)]
    jpegs = [cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], cv2.IMREAD_UNCHANGED)
             for im in images]
    d = hamming(phash_batch(images), phash_batch(jpegs))
    assert d.max() <= 4


def test_phash_far_for_unrelated_images():
    hashes = phash_batch([_image(s) for s in range(12)])
    d = hamming(hashes[:, None], hashes[None, :])
    off = d[~np.eye(12, dtype=bool)]
    assert off.min() > 16
    assert d.diagonal().max() == 0


def test_phash_batch_array_equals_list_and_is_uint64():
    images = [_image(s, 128) for s in range(3)]
    a = phash_batch(images)
    b = phash_batch(np.stack(images))
    assert a.dtype == np.uint64 and a.tolist() == b.tolist()
    assert phash_batch([]).shape == (0,)


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_phash_any_band_count(bands):
    tile = np.moveaxis(textured(64, 64, bands, seed=bands), 0, 2)
    assert phash_batch([tile]).shape == (1,)


def test_phash_of_flipped_image_differs():
    im = _image(3)
    h = phash_batch([im, im[:, ::-1]])
    assert hamming(h[0], h[1]) > 10


def test_hamming():
    assert hamming(0, 0xFF) == 8
    assert hamming(np.uint64(2**63), 0) == 1
    assert hamming(np.array([0, 3], np.uint64), np.array([1, 0], np.uint64)).tolist() == [1, 2]


@pytest.mark.parametrize("bands", [2, 4, 6])
def test_multiband_thumbnail_is_the_band_mean_area_resize(bands):
    from pipeline.hashing import _grey_small

    rng = np.random.default_rng(bands)
    tile = rng.integers(0, 256, size=(128, 96, bands)).astype(np.uint8)
    expected = cv2.resize(tile.mean(axis=2, dtype=np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(_grey_small(tile), expected, atol=1e-3)
    odd = tile[:100, :90]  # sides not multiples of 32: the general path
    expected = cv2.resize(odd.mean(axis=2, dtype=np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(_grey_small(odd), expected, atol=1e-6)


def test_block_band_means_equal_numpys_block_average_for_strided_tiles():
    """The fused multiband thumbnail equals the band mean of each block's plain numpy average,
    for a strided slice of a strip too (the caller makes it contiguous)."""
    from pipeline.hashing import _grey_small

    rng = np.random.default_rng(5)
    strip = rng.integers(0, 40000, (256, 768, 4)).astype(np.uint16)
    tile = strip[:, 256:512]
    want = tile.reshape(32, 8, 32, 8, 4).astype(np.float64).mean(axis=(1, 3, 4))
    assert np.allclose(_grey_small(tile), want, rtol=0, atol=1e-9)
