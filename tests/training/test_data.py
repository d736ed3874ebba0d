import functools
import http.server
import threading

import numpy as np
import pytest
import torch

from catalogs.query import Query
from tests.training.corpus import make_corpus
from training.data import MimStream, SampleSpec, make_loader, open_source, prepare, probe_bands
from training.masking import MaskConfig
from training.plan import StreamConfig, plan_epoch
from training.transforms import AugmentConfig

SPEC = SampleSpec(AugmentConfig(img_size=32), MaskConfig("pimask", mask_patch=16))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n=40, size=48, per_shard=7)


def _stream(index_stats, batch=4, rank=0, world=1, spec=SPEC, **kw):
    index, stats = index_stats
    return MimStream(index, stats, StreamConfig(seed=3, batch_size=batch, shuffle_buffer=6, **kw), spec, rank, world)


def _epoch(stream, workers=0, epoch=0, start=0):
    stream.set_position(epoch, start, epochs=1)
    return list(make_loader(stream, workers))


def test_batches_are_normalized_masked_and_keyed(corpus):
    batches = _epoch(_stream(open_source(corpus=str(corpus))))
    assert len(batches) == 10 and [b["batch"] for b in batches] == list(range(10))
    assert batches[0]["image"].shape == (4, 32, 32, 3) and batches[0]["image"].dtype == torch.uint8
    image, mask = prepare(batches[0])
    assert image.shape == (4, 3, 32, 32) and image.dtype == torch.float32 and image.is_contiguous()
    assert mask.shape == (4, 32, 32) and mask.dtype == torch.uint8
    raw = batches[0]["image"][1, 5, 7].float()
    assert torch.allclose(image[1, :, 5, 7], (raw - batches[0]["mean"][1]) / batches[0]["std"][1])
    assert prepare(batches[0], channels_last=True)[0].is_contiguous(memory_format=torch.channels_last)
    allimg = torch.cat([prepare(b)[0] for b in batches])
    assert abs(allimg.mean().item()) < 0.3 and 0.6 < allimg.std().item() < 1.4  # corpus statistics applied
    keys = [k for b in batches for k in b["key"]]
    assert len(set(keys)) == 40


def test_worker_count_does_not_change_the_stream(corpus):
    source = open_source(corpus=str(corpus))
    zero, two = _epoch(_stream(source), 0), _epoch(_stream(source), 2)
    assert [b["key"] for b in zero] == [b["key"] for b in two]
    assert all(torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"]) for a, b in zip(zero, two))


def test_set_position_replays_the_rest_of_the_epoch_exactly(corpus):
    source = open_source(corpus=str(corpus))
    full = _epoch(_stream(source), 0, epoch=2)
    rest = _epoch(_stream(source), 1, epoch=2, start=7)
    assert [b["batch"] for b in rest] == [7, 8, 9]
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(full[7:], rest))
    assert [b["key"] for b in full] != [b["key"] for b in _epoch(_stream(source), 0, epoch=3)]


def test_the_stream_runs_across_epochs(corpus):
    stream = _stream(open_source(corpus=str(corpus)))
    stream.set_position(0, 8)  # endless
    got = []
    for batch in make_loader(stream, 2):
        got.append((batch["epoch"], batch["batch"]))
        if len(got) == 5:
            break
    assert got == [(0, 8), (0, 9), (1, 0), (1, 1), (1, 2)]


def test_a_query_reads_only_its_samples_bytes(corpus):
    index, stats = open_source(corpus=str(corpus), query=Query(bbox=(-10.5, 30, -5, 60)))
    assert 0 < len(index) < 40
    stream = _stream((index, stats), batch=1)
    _epoch(stream)
    assert stream.bytes_read == index.total_bytes()


def test_shard_urls_brace_patterns_and_pipes_give_the_same_samples(corpus, tmp_path):
    by_catalog = open_source(corpus=str(corpus))
    pattern = str(corpus / "shards" / "train-{000000..000005}.tar")
    by_braces = open_source(shards=pattern, cache_dir=str(tmp_path))
    pipes = [f"pipe:cat {u}" for u in by_braces[0].urls]
    by_pipe = open_source(shards=pipes, cache_dir=str(tmp_path))
    keys = [sorted(k for b in _epoch(_stream(s), 1) for k in b["key"]) for s in (by_catalog, by_braces, by_pipe)]
    assert keys[0] == keys[1] == keys[2] and len(keys[0]) == 40
    assert by_braces[1].stats == by_catalog[1].stats  # the manifest beside the shards


def test_http_shards(corpus):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(corpus / "shards"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/train-{{000000..000005}}.tar"
        source = open_source(shards=url)
        keys = sorted(k for b in _epoch(_stream(source)) for k in b["key"])
    finally:
        server.shutdown()
    assert len(keys) == 40 and len(set(keys)) == 40


@pytest.mark.parametrize("bands,fmt", [(1, "png"), (4, "png"), (13, "npy")])
def test_any_band_count(tmp_path, bands, fmt):
    dtype = np.uint16 if fmt == "npy" else np.uint8
    root = make_corpus(tmp_path, n=8, size=40, bands=bands, fmt=fmt, dtype=dtype, sensor="s2")
    source = open_source(corpus=str(root))
    assert probe_bands(source[0]) == bands
    image, _ = prepare(_epoch(_stream(source))[0])
    assert image.shape == (4, bands, 32, 32) and torch.isfinite(image).all()


def test_a_broken_sample_is_replaced_not_dropped(tmp_path):
    root = make_corpus(tmp_path, n=8, size=40)
    shard = root / "shards" / "train-000000.tar"
    data = bytearray(shard.read_bytes())
    data[700:900] = b"\x00" * 200  # inside the first PNG payload
    shard.write_bytes(bytes(data))
    batches = _epoch(_stream(open_source(corpus=str(root)), batch=8))
    assert len(batches) == 1 and batches[0]["image"].shape[0] == 8


def test_ranks_split_an_epoch_without_overlap(corpus):
    source = open_source(corpus=str(corpus))
    keys = [[k for b in _epoch(_stream(source, rank=r, world=3), 2) for k in b["key"]] for r in range(3)]
    assert len({len(k) for k in keys}) == 1 and len(keys[0]) == 12  # 40 // 3 // 4 batches of 4
    flat = [k for ks in keys for k in ks]
    assert len(flat) == len(set(flat))
    assert plan_epoch(source[0].counts(), StreamConfig(seed=3, batch_size=4, shuffle_buffer=6), 0, 0, 3).shape == (3, 4)


def test_a_selection_mixing_band_counts_has_one_layout_per_band_set(tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from catalogs.geoparquet import write_geoparquet

    a = make_corpus(tmp_path / "a", n=4, size=40, bands=3, sensor="aerial")
    b = make_corpus(tmp_path / "b", n=4, size=40, bands=4, sensor="s2", seed=1)
    table = pa.concat_tables([pq.read_table(a / "catalog/tiles.parquet"), pq.read_table(b / "catalog/tiles.parquet")])
    write_geoparquet(table, a / "catalog/tiles.parquet")
    shutil.rmtree(b)
    index = open_source(corpus=str(a))[0]
    assert index.layouts == ("aerial/b1,b2,b3/uint8", "s2/b1,b2,b3,b4/uint8") and index.band_counts == (3, 4)
    assert sorted(np.bincount(index.layout_ids()).tolist()) == [4, 4]
    one = open_source(corpus=str(a), query=Query(sensors=("aerial",)))[0]
    assert len(one) == 4 and one.layouts == ("aerial/b1,b2,b3/uint8",)


def test_resampled_stream_gives_each_rank_its_share(corpus):
    source = open_source(corpus=str(corpus))
    batches = [_epoch(_stream(source, rank=r, world=2, resampled=True, epoch_samples=64), 1) for r in range(2)]
    assert [len(b) for b in batches] == [8, 8]  # 64 // 2 // 4
    assert [b["key"] for b in batches[0]] != [b["key"] for b in batches[1]]


def test_on_device_stream_matches_the_cpu_path(corpus):
    """Workers ship full tiles + draws; ``prepare`` crops, flips and masks them batched. Same
    crops as the CPU path (same draws), values within resize rounding, masks of the same kind."""
    source = open_source(corpus=str(corpus))
    device_spec = SampleSpec(SPEC.augment, SPEC.mask, on_device=True)
    cpu, dev = _epoch(_stream(source)), _epoch(_stream(source, spec=device_spec))
    assert "mask" not in dev[0] and dev[0]["draws"].shape == (4, 7) and dev[0]["image"].shape[1:] == (48, 48, 3)
    for a, b in zip(cpu, dev):
        assert a["key"] == b["key"]
        image_cpu, _ = prepare(a)
        image_dev, mask = prepare(b, spec=device_spec)
        assert image_dev.shape == image_cpu.shape and mask.shape == (4, 32, 32) and mask.dtype == torch.uint8
        assert (image_dev - image_cpu).abs().mean() < 0.02  # uint8 rounding of the CPU resize only
        assert torch.equal(mask, prepare(b, spec=device_spec)[1])  # masks follow the batch's seed
    with pytest.raises(ValueError, match="SampleSpec"):
        prepare(dev[0])


def test_on_device_png_tiles_are_decoded_down_to_their_crop_only(corpus):
    """A PNG slot holds the tile's rows down to its crop's last row and zeros below; the same
    bytes from a worker (shared-memory batch) as in process."""
    from training.decode import decode_sample
    from training.data import Fetcher

    source = open_source(corpus=str(corpus))
    device_spec = SampleSpec(SPEC.augment, SPEC.mask, on_device=True)
    zero, one = _epoch(_stream(source, spec=device_spec), 0), _epoch(_stream(source, spec=device_spec), 1)
    index = source[0]
    tiles = {decode_sample(f)[0]: decode_sample(f)[1] for f in Fetcher(index).fetch(np.arange(len(index)))}
    partial = 0
    for a, b in zip(zero, one):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["draws"], b["draws"])
        for key, image, (top, _, h, *_) in zip(a["key"], a["image"].numpy(), a["draws"].tolist()):
            assert np.array_equal(image[: top + h], tiles[key][: top + h])
            assert not image[top + h :].any()
            partial += top + h < 48
    assert partial > 0  # some crops end above the last row


def test_on_device_jpeg_tiles_travel_encoded_and_decode_in_prepare(tmp_path):
    """JPEG tiles are not decoded by the workers: the batch carries their bytes, ``prepare``
    decodes them (torchvision; nvJPEG on CUDA) and matches the CPU path within JPEG decoder
    differences; a JPEG broken past its header is replaced by another of the batch and named."""
    root = make_corpus(tmp_path / "jpg", n=12, size=64, fmt="jpg", per_shard=6)
    source = open_source(corpus=str(root))
    device_spec = SampleSpec(SPEC.augment, SPEC.mask, on_device=True)
    cpu = _epoch(_stream(source, spec=SampleSpec(SPEC.augment, SPEC.mask, reduced_jpeg=False)))
    dev = _epoch(_stream(source, spec=device_spec), 1)
    assert "image" not in dev[0] and dev[0]["jpeg"].dtype == torch.uint8 and len(dev[0]["jpeg_sizes"]) == 4
    for a, b in zip(cpu, dev):
        assert a["key"] == b["key"]
        image_cpu, _ = prepare(a)
        image_dev, mask = prepare(b, spec=device_spec)
        assert image_dev.shape == image_cpu.shape == (4, 3, 32, 32) and mask.shape == (4, 32, 32)
        assert (image_dev - image_cpu).abs().mean() < 0.05
    broken = dict(dev[0], skipped=[])
    sizes = broken["jpeg_sizes"].tolist()
    data = broken["jpeg"].clone()
    start_of_scan = bytes(data[: sizes[0]].numpy()).index(b"\xff\xda")
    data[start_of_scan + 1] = 0x01  # the first JPEG's scan marker broken, its frame header intact
    broken["jpeg"] = data
    image, _ = prepare(broken, spec=device_spec)
    assert image.shape == (4, 3, 32, 32) and broken["skipped"] == [dev[0]["key"][0]]


def test_jpeg_tiles_decode_reduced_with_the_same_draws_and_masks(tmp_path):
    """A JPEG tile whose crop shrinks >= 2x is decoded at a smaller DCT scale: the same keys,
    masks and crops (the draws come first, from the header's size), pixels within JPEG noise."""
    root = make_corpus(tmp_path / "jpg", n=12, size=128, fmt="jpg", per_shard=6)
    source = open_source(corpus=str(root))
    full_spec = SampleSpec(SPEC.augment, SPEC.mask, reduced_jpeg=False)
    reduced, full = _epoch(_stream(source)), _epoch(_stream(source, spec=full_spec))
    for a, b in zip(reduced, full):
        assert a["key"] == b["key"] and torch.equal(a["mask"], b["mask"])
        assert a["image"].shape == b["image"].shape
        # within what JPEG itself changes on these noisy tiles (test_decode: < 6 of 255)
        assert (a["image"].float() - b["image"].float()).abs().mean() < 6


def test_device_batches_of_mixed_sizes_or_codecs_still_stack():
    """A device batch whose tiles differ in size is cropped on the CPU after all; one where only
    some tiles travel as JPEG bytes has those decoded in the worker: either way it stacks."""
    import cv2

    from training.data import _stackable
    from training.transforms import draw, identity_draws

    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for _ in range(2)] + [
        rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)]
    jpeg = np.frombuffer(cv2.imencode(".jpg", tiles[0])[1].tobytes(), np.uint8)
    cfg = AugmentConfig(img_size=16)
    draws = [draw(t.shape[0], t.shape[1], cfg, rng) for t in tiles]
    sample = lambda i, pixels: (f"k{i}", pixels, draws[i], None, tiles[i].shape)  # noqa: E731
    mixed_codecs = _stackable([sample(0, jpeg), sample(1, tiles[1])], 16)
    assert [s[1].shape for s in mixed_codecs] == [(48, 48, 3)] * 2 and mixed_codecs[1][1] is tiles[1]
    mixed_sizes = _stackable([sample(0, jpeg), sample(1, tiles[1]), sample(2, tiles[2])], 16)
    assert {s[1].shape for s in mixed_sizes} == {(16, 16, 3)} and {s[4] for s in mixed_sizes} == {(16, 16, 3)}
    assert all(np.array_equal(s[2], identity_draws(16)) for s in mixed_sizes)
