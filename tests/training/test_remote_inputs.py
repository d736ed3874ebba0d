"""Remote training input: shards streamed over HTTP and S3, and catalog queries that fetch only
the selected samples' bytes (counted by the loopback servers the tests start).

The corpus has 4 shards of 14 samples; ``SPARSE`` selects one latitude row, i.e. 2 samples
per shard with 6 unselected samples between them, the case where reading through gaps to save
requests would fetch far more than the selection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fsspec
import numpy as np
import pytest
import torch

from catalogs.query import Query, read_catalog
from tests.support.http_server import serve_directory
from tests.training.corpus import make_corpus
from training.data import Fetcher, MimStream, SampleSpec, make_loader, open_source
from training.masking import MaskConfig
from training.plan import StreamConfig
from training.transforms import AugmentConfig

ROOT = Path(__file__).resolve().parents[2]
SPEC = SampleSpec(AugmentConfig(img_size=32), MaskConfig("pimask", mask_patch=16))
SPARSE = Query(bbox=(-180.0, 42.5, 180.0, 43.5))  # lat 43 = samples i % 7 == 3: 8 of 56
DENSE = Query(polygon="MULTIPOLYGON(((-180 30, 180 30, 180 42.5, -180 42.5, -180 30)), "
                       "((-180 43.5, 180 43.5, 180 60, -180 60, -180 43.5)))")  # all but SPARSE: 48 of 56
CONTIGUOUS = Query(bbox=(-10.5, 30.0, -6.0, 60.0))  # lon <= -6: the first 12 samples, all in shard 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("remote"), n=56, size=48, per_shard=14)


@pytest.fixture
def http_corpus(corpus):
    with serve_directory(corpus) as (base, counter):
        counter.reset()
        yield base, counter


@pytest.fixture
def s3_corpus(corpus, s3):
    fsspec.filesystem("s3").put(f"{corpus}/", s3.url("c") + "/", recursive=True)
    s3.served.reset()
    return s3.url("c"), s3.served


@pytest.fixture(params=["http", "s3"])
def remote(request):
    """``(corpus URL, counter of bytes served)`` for each kind of server."""
    return request.getfixturevalue(f"{request.param}_corpus")


def _shards_url(url: str) -> str:
    """Every shard of the remote corpus: braces over HTTP (no listing), a glob on S3."""
    if url.startswith("http"):
        return f"{url}/shards/train-{{000000..000003}}.tar"
    return f"{url}/shards/*.tar"


def _epoch(source, batch: int) -> tuple[list[dict], MimStream]:
    index, stats = source
    stream = MimStream(index, stats, StreamConfig(seed=5, batch_size=batch, shuffle_buffer=8), SPEC)
    stream.set_position(0, 0, epochs=1)
    return list(make_loader(stream)), stream


def _fragments(index) -> list[bytes]:
    fetcher = Fetcher(index)
    try:
        return [bytes(f) for f in fetcher.fetch(np.arange(len(index)))]
    finally:
        fetcher.close()


def _shard_bytes(corpus: Path) -> int:
    return sum(p.stat().st_size for p in (corpus / "shards").glob("*.tar"))


def test_remote_shards_stream_the_same_samples_as_local(corpus, remote):
    url, served = remote
    local = open_source(shards=str(corpus / "shards"))
    far = open_source(shards=_shards_url(url))
    scan_bytes = served.bytes
    assert len(far[0].urls) == 4 and all(u.startswith(url) for u in far[0].urls)
    assert np.array_equal(far[0].offset, local[0].offset) and np.array_equal(far[0].size, local[0].size)
    served.reset()
    near_batches, (far_batches, stream) = _epoch(local, 8)[0], _epoch(far, 8)
    epoch_bytes = served.bytes
    assert len(far_batches) == 7 and stream.bytes_read == epoch_bytes
    for a, b in zip(near_batches, far_batches):
        assert a["key"] == b["key"] and torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert _fragments(far[0]) == _fragments(local[0])  # every sample's bytes
    shards = _shard_bytes(corpus)
    print(f"\n{url.split(':')[0]}: shards {shards} B; header scan + stats {scan_bytes} B; one epoch {epoch_bytes} B "
          f"({epoch_bytes / shards:.3f}x)")
    assert epoch_bytes <= 1.25 * shards  # every sample once, plus the gaps read through


def test_a_remote_catalog_query_fetches_only_the_selected_samples(corpus, remote):
    url, served = remote
    index, stats = open_source(corpus=url, query=SPARSE)  # catalog and manifest read from the server
    catalog_bytes, catalog_requests = served.bytes, served.requests
    served.reset()
    selected = read_catalog(str(corpus), SPARSE, columns=["tile_id", "size"])
    assert len(index) == selected.num_rows == 8 and index.urls[0].startswith(url)
    batches, stream = _epoch((index, stats), 4)
    keys = sorted(k for b in batches for k in b["key"])
    assert keys == sorted(selected.column("tile_id").to_pylist())
    wanted = sum(selected.column("size").to_pylist())
    ratio = served.bytes / wanted
    print(f"\n{url.split(':')[0]}: selected {wanted} B of {_shard_bytes(corpus)} B of shards; sample bytes "
          f"served {served.bytes} B in {served.requests} requests (ratio {ratio:.3f}); catalog + manifest "
          f"read {catalog_bytes} B in {catalog_requests} requests")
    assert catalog_requests >= 2 and catalog_bytes > 0  # the catalog came over the wire
    assert stream.bytes_read == served.bytes
    assert ratio <= 1.5
    assert served.bytes < 0.3 * _shard_bytes(corpus)


def test_neighbouring_selected_samples_share_one_request(corpus, remote):
    url, served = remote
    index, stats = open_source(corpus=url, query=CONTIGUOUS)
    served.reset()
    assert len(index) == 12 and len(index.urls) == 1
    batches, _ = _epoch((index, stats), 12)
    assert len(batches) == 1 and served.requests == 1
    assert served.bytes == index.total_bytes()


def test_small_gaps_are_read_through_within_a_quarter_of_the_bytes(corpus, remote):
    """One unselected sample between runs of six: a read per shard, not per run, and the bytes
    read through stay within ``READ_THROUGH`` of the selection."""
    url, served = remote
    index, stats = open_source(corpus=url, query=DENSE)
    served.reset()
    assert len(index) == 48 and len(index.urls) == 4
    batches, _ = _epoch((index, stats), 48)
    ratio = served.bytes / index.total_bytes()
    print(f"\n{url.split(':')[0]}: dense query {index.total_bytes()} B, served {served.bytes} B in "
          f"{served.requests} requests (ratio {ratio:.3f})")
    assert len(batches) == 1 and served.requests == 4
    assert 1.0 < ratio <= 1.25


def test_pretrain_streams_an_s3_corpus(corpus, s3_corpus, s3, tmp_path):
    """The real entry point in a child process (as torchrun would start it), with a loader worker:
    both reach the server through ``AWS_ENDPOINT_URL`` alone."""
    url, served = s3_corpus
    out = tmp_path / "run"
    args = ["-m", "training.pretrain", "--corpus", url, "--bbox=-11,30,5,60", "--model", "vit_nano",
            "--img-size", "32", "--mask-patch", "16", "--steps", "3", "--batch-size", "4", "--num-workers", "1",
            "--log-every", "1", "--image-every", "0", "--no-progress", "--out", str(out)]
    env = {**os.environ, **s3.env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in lines)
    assert (out / "checkpoints" / "last.pt").exists()
    selected = sum(read_catalog(str(corpus), Query(bbox=(-11, 30, 5, 60)), columns=["size"]).column("size").to_pylist())
    print(f"\npretrain from {url}: served {served.bytes} B in {served.requests} requests for 3 steps of 4 "
          f"(+ prefetch, catalog, probe); selection {selected} B")
    assert 0 < served.bytes < selected  # a few batches, not the selection, let alone the shards
