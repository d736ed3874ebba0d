import io
import tarfile

import numpy as np
import pytest

from catalogs.query import read_catalog
from tests.training.corpus import encode, make_corpus, synthetic_tile, write_shard
from catalogs.errors import SampleError
from catalogs.tarformat import parse_fragment, scan_samples
from training.decode import decode_sample
from training.sources import shard_samples

CASES = [  # fmt, bands, dtype, exact
    ("png", 1, np.uint8, True), ("png", 3, np.uint8, True), ("png", 4, np.uint8, True),
    ("png", 1, np.uint16, True), ("jpg", 3, np.uint8, False), ("webp", 3, np.uint8, False),
    ("npy", 13, np.uint16, True), ("npy", 2, np.float32, True), ("tif", 4, np.uint16, True),
]


@pytest.mark.parametrize("fmt,bands,dtype,exact", CASES)
def test_every_sample_format_decodes_from_its_fragment(tmp_path, fmt, bands, dtype, exact):
    tile = synthetic_tile(np.random.default_rng(0), 48, bands, dtype)
    meta = {"tile_id": "k", "sensor": "s"}
    (offset, size), = write_shard(tmp_path / "s.tar", [("0123456789abcdef", encode(tile, fmt), fmt, meta)])
    fragment = (tmp_path / "s.tar").read_bytes()[offset:offset + size]
    key, image, got = decode_sample(fragment)
    assert key == "0123456789abcdef" and got == meta
    assert image.shape == (48, 48, bands) and image.dtype == dtype
    if exact:
        assert np.array_equal(image, tile)
    else:  # lossy codecs: close, and in band order (not BGR)
        assert np.abs(image.astype(float) - tile).mean() < 6
        assert np.abs(image.astype(float) - tile[:, :, ::-1]).mean() > np.abs(image.astype(float) - tile).mean()


def test_header_scan_matches_the_catalog_offsets(tmp_path):
    root = make_corpus(tmp_path / "c", n=20, per_shard=8)
    rows = read_catalog(str(root), columns=["tile_id", "shard", "offset", "size"]).to_pylist()
    scanned = {}
    for shard in sorted({r["shard"] for r in rows}):
        for key, off, size in shard_samples(str(root / shard), cache_dir=str(tmp_path / "cache")):
            scanned[key] = (shard, off, size)
    assert scanned == {r["tile_id"]: (r["shard"], r["offset"], r["size"]) for r in rows}
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3  # cached per shard


def test_long_names_and_pax_headers_are_handled(tmp_path):
    names = [("d" * 120 + "/k1", tarfile.GNU_FORMAT), ("e" * 130 + "/k2", tarfile.PAX_FORMAT)]
    for long_key, fmt in names:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
            for ext, data in (("npy", encode(np.ones((4, 4, 2), np.uint8), "npy")), ("json", b"{}")):
                info = tarfile.TarInfo(f"{long_key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        data = buffer.getvalue()
        (key, offset, size), = scan_samples(io.BytesIO(data))
        assert key == long_key and offset == 0
        sample = parse_fragment(data[offset:offset + size])
        assert sample["__key__"] == long_key and set(sample) == {"__key__", "npy", "json"}
        assert decode_sample(data[offset:offset + size])[1].shape == (4, 4, 2)


def test_a_fragment_without_image_is_an_error(tmp_path):
    (offset, size), = write_shard(tmp_path / "s.tar", [("k", b"hello", "txt", {})])
    with pytest.raises(SampleError):
        decode_sample((tmp_path / "s.tar").read_bytes()[offset:offset + size])


@pytest.mark.parametrize("shape, dtype", [((9, 11, 3), np.uint8), ((9, 11, 4), np.uint8), ((9, 11), np.uint8),
                                          ((9, 11), np.uint16)])
def test_png_decodes_to_opencvs_pixels_in_band_order(shape, dtype):
    import cv2

    from training.decode import decode_image

    rng = np.random.default_rng(0)
    array = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR if len(shape) == 3 and shape[2] == 3 else
                       cv2.COLOR_RGBA2BGRA) if len(shape) == 3 else array
    decoded = decode_image(cv2.imencode(".png", bgr)[1].tobytes(), "png")
    assert decoded.dtype == dtype and np.array_equal(decoded, array.reshape(9, 11, -1))


def test_png_augmented_decodes_only_the_crops_rows_with_the_same_result(tmp_path, monkeypatch):
    """``decode_augmented`` stops inflating a PNG below the crop's last row: the same tile as
    decoding it whole and augmenting it with the same generator state."""
    import training.decode as decode
    from training.transforms import AugmentConfig, augment

    tile = synthetic_tile(np.random.default_rng(2), 96, 3, np.uint8)
    (offset, size), = write_shard(tmp_path / "s.tar", [("k", encode(tile, "png"), "png", {})])
    fragment = (tmp_path / "s.tar").read_bytes()[offset:offset + size]
    rows_asked = []
    decode_png = decode.decode_png
    monkeypatch.setattr(decode, "decode_png", lambda data, rows=None, out=None: rows_asked.append(rows) or decode_png(data, rows, out))
    cfg = AugmentConfig(img_size=32, scale=(0.2, 0.4))
    for seed in range(6):
        _, got, _ = decode.decode_augmented(fragment, cfg, np.random.default_rng(seed))
        assert np.array_equal(got, augment(tile, cfg, np.random.default_rng(seed)))
    assert rows_asked and all(r < 96 for r in rows_asked)  # crops of <= 40 % never reach every row


@pytest.mark.parametrize("fmt", ["npy.zst", "npz"])
def test_compressed_array_members_decode_to_every_band(fmt):
    from pipeline.encode import encode
    from training.decode import decode_image

    array = np.arange(8 * 8 * 4, dtype=np.uint16).reshape(8, 8, 4)
    out = decode_image(encode(array, fmt), fmt)
    assert out.dtype == np.uint16 and out.shape == (8, 8, 4)
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("bands,progressive", [(3, False), (1, False), (3, True)])
def test_jpeg_header_and_reduced_decoding(bands, progressive):
    import cv2

    from training.decode import decode_jpeg_reduced, jpeg_header

    tile = synthetic_tile(np.random.default_rng(1), 100, bands, np.uint8)[:, :90]
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(tile[..., ::-1] if bands == 3 else tile),
                            [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert jpeg_header(data.tobytes()) == (100, 90, bands)
    assert jpeg_header(b"not a jpeg") is None
    half = decode_jpeg_reduced(data.tobytes(), 2, bands)
    assert half.shape == (50, 45, bands)
    shrunk = cv2.resize(np.ascontiguousarray(tile), (45, 50), interpolation=cv2.INTER_AREA).reshape(50, 45, bands)
    assert np.abs(half.astype(float) - shrunk).mean() < 6  # in band order, close to a 2x box shrink
    assert decode_sample_with_window(data.tobytes(), lambda ext, h, w: (4, h)).shape == (25, 23, bands)


def decode_sample_with_window(jpeg: bytes, window):
    import tarfile as _tar

    buffer = io.BytesIO()
    with _tar.open(fileobj=buffer, mode="w", format=_tar.USTAR_FORMAT) as tar:
        info = _tar.TarInfo("key.jpg")
        info.size = len(jpeg)
        tar.addfile(info, io.BytesIO(jpeg))
    return decode_sample(buffer.getvalue(), window)[1]
