"""Streaming loader: samples/s of ``training.data.MimStream`` against its limit and ImageFolder.

One synthetic corpus of aerial-like 512x512 RGB PNG tiles (the packer's default codec for uint8
RGB) is written as shards + catalog + manifest, and the same tiles as loose files. Measured:

* the limit: decoding the same image bytes in a bare loop on one core (no tar, no augment);
* ours: the full stream (plan, byte-range reads, tar parse, decode, RandomResizedCrop to 192,
  flips/rot90, PIMask, normalization, collation) in process and with 1 and 2 workers;
* the baseline: ``torchvision.datasets.ImageFolder`` over the loose files with the equivalent
  torchvision transforms and the same PIMask generator, 1 and 2 workers;
* bytes read by a catalog query selecting ~5 % of the samples, against those samples' bytes.

Rates exclude worker start-up (timed from the first batch). The machine is shared, so the
figures are noisy; the ratios are measured in the same run.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import shapely

from benchmarks.figures import Figure, stopwatch
from catalogs.geoparquet import write_geoparquet
from catalogs.keys import shard_name, tile_id_for
from catalogs.query import Query
from catalogs.schema import CATALOG_SCHEMA, KEPT, conform

SIZE, CROP, BATCH = 512, 192, 32
H100_SWIN_B_192 = 2500  # img/s, assumed: timm's Swin-B/224 A100 AMP training ~900 img/s, H100 ~2.3x, 192 px ~1.3x


def _tile(rng: np.random.Generator) -> np.ndarray:
    """Aerial-like RGB: blurred multi-scale noise through a palette, parcels, sensor noise."""
    field = sum(w * cv2.GaussianBlur(rng.standard_normal((SIZE, SIZE)).astype(np.float32), (0, 0), s)
                for w, s in ((1.0, 24.0), (0.5, 6.0), (0.3, 1.5)))
    field = (field - field.mean()) / (field.std() + 1e-6)
    palette = rng.uniform(30, 220, (4, 3))
    level = np.clip((field * 0.35 + 0.5) * 2.999, 0, 2.999)
    low = level.astype(int)
    frac = (level - low)[..., None]
    img = palette[low] * (1 - frac) + palette[low + 1] * frac
    for _ in range(int(rng.integers(3, 9))):
        x, y = rng.integers(0, SIZE, 2)
        w, h = rng.integers(8, 80, 2)
        img[y : y + h, x : x + w] = rng.uniform(30, 220, 3)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def build(root: Path, n: int, per_shard: int = 64) -> dict:
    """Shards + catalog + manifest under ``root/corpus``, loose PNGs under ``root/files/0``."""
    rng = np.random.default_rng(0)
    corpus, files = root / "corpus", root / "files" / "0"
    files.mkdir(parents=True)
    rows, sums, squares = [], np.zeros(3), np.zeros(3)
    handle = tar = None
    for i in range(n):
        if i % per_shard == 0:
            if tar is not None:
                tar.close(), handle.close()
            shard = shard_name("train", i // per_shard)
            (corpus / shard).parent.mkdir(parents=True, exist_ok=True)
            handle = open(corpus / shard, "wb")
            tar = tarfile.open(fileobj=handle, mode="w", format=tarfile.USTAR_FORMAT)
        tile = _tile(rng)
        sums += tile.reshape(-1, 3).mean(0)
        squares += (tile.reshape(-1, 3).astype(np.float64) ** 2).mean(0)
        png = cv2.imencode(".png", cv2.cvtColor(tile, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
        (files / f"{i:06d}.png").write_bytes(png)
        key = tile_id_for("bench", i, 0, SIZE, SIZE, "bench")
        start = handle.tell()
        _add(tar, f"{key}.png", png)
        _add(tar, f"{key}.json", json.dumps({"tile_id": key, "sensor": "aerial"}).encode())
        lon = -180 + 360 * i / n
        box = shapely.box(lon, 0, lon + 0.01, 0.01)
        rows.append({"tile_id": key, "scene_id": "bench", "uri": "bench", "sensor": "aerial", "band_count": 3,
                     "status": KEPT, "shard": shard, "offset": start, "size": handle.tell() - start,
                     "geometry": shapely.to_wkb(box), "lon": lon, "lat": 0.005,
                     "bbox": dict(zip(("xmin", "ymin", "xmax", "ymax"), box.bounds))})
    tar.close(), handle.close()
    write_geoparquet(conform(pa.Table.from_pylist(rows), CATALOG_SCHEMA), corpus / "catalog" / "tiles.parquet")
    mean = sums / n
    std = np.sqrt(squares / n - mean**2)
    stats = {"aerial": {"bands": ["r", "g", "b"], "dtype": "uint8", "mean": mean.tolist(), "std": std.tolist(), "count": n}}
    (corpus / "manifest.json").write_text(json.dumps({"stats": stats}))
    return {"corpus": corpus, "files": files.parent, "stats": stats["aerial"]}


def bare_decode_rate(corpus: Path) -> float:
    """The limit: decode every image member's bytes in a loop (bytes already in memory)."""
    from training.data import Fetcher, open_source
    from training.decode import parse_fragment

    index, _ = open_source(corpus=str(corpus))
    payloads = [parse_fragment(f)["png"] for f in Fetcher(index).fetch(np.arange(len(index)))]
    cv2.setNumThreads(1)
    with stopwatch() as elapsed:
        for payload in payloads:
            cv2.cvtColor(cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    return len(payloads) / elapsed[0]


def _rate(loader, limit_batches: int | None = None) -> float:
    """Samples/s from the first batch on (excludes worker start-up)."""
    count, start = 0, None
    for i, batch in enumerate(loader):
        images = batch["image"] if isinstance(batch, dict) else batch[0]
        if start is None:
            start = time.perf_counter()
        else:
            count += len(images)
        if limit_batches is not None and i + 1 >= limit_batches:
            break
    return count / (time.perf_counter() - start)


def stream_rate(corpus: Path, workers: int, epochs: int = 1) -> float:
    from training.data import MimStream, SampleSpec, make_loader, open_source
    from training.plan import StreamConfig
    from training.transforms import AugmentConfig

    index, stats = open_source(corpus=str(corpus))
    stream = MimStream(index, stats, StreamConfig(seed=0, batch_size=BATCH, shuffle_buffer=256),
                       SampleSpec(AugmentConfig(img_size=CROP)))
    stream.set_position(0, 0, epochs=epochs)
    return _rate(make_loader(stream, workers))


class _MaskedFolder:
    """ImageFolder + torchvision transforms + the same PIMask generator (SimMIM's loader shape)."""

    def __init__(self, root: Path, stats: dict):
        import torchvision.transforms as T
        from torchvision.datasets import ImageFolder

        self.transform = T.Compose([
            T.RandomResizedCrop(CROP, scale=(0.67, 1.0)), T.RandomHorizontalFlip(), T.RandomVerticalFlip(),
            T.ToTensor(), T.Normalize([m / 255 for m in stats["mean"]], [s / 255 for s in stats["std"]])])
        self.folder = ImageFolder(str(root))

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int):
        from training.masking import MaskConfig, generate_mask

        image, _ = self.folder[i]
        mask = generate_mask(CROP, MaskConfig(), np.random.default_rng(i))
        return self.transform(image), mask


def folder_rate(files: Path, stats: dict, workers: int) -> float:
    import torch

    dataset = _MaskedFolder(files, stats)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers, drop_last=True)
    return _rate(loader)


def query_bytes(corpus: Path, n: int) -> tuple[int, int, int]:
    """(bytes read, selected samples' bytes, whole corpus bytes) for a ~5 % bbox query."""
    from training.data import MimStream, SampleSpec, open_source
    from training.plan import StreamConfig
    from training.transforms import AugmentConfig

    whole, _ = open_source(corpus=str(corpus))
    index, stats = open_source(corpus=str(corpus), query=Query(bbox=(-180, -1, -180 + 360 * 0.05 - 1e-6, 1)))
    stream = MimStream(index, stats, StreamConfig(batch_size=1, shuffle_buffer=64), SampleSpec(AugmentConfig(img_size=CROP)))
    stream.set_position(0, 0, epochs=1)
    for _ in stream:
        pass
    return stream.bytes_read, index.total_bytes(), whole.total_bytes()


def run(quick: bool) -> list[Figure]:
    n = 96 if quick else 320
    with tempfile.TemporaryDirectory(prefix="ringmo-loader-") as tmp:
        built = build(Path(tmp), n)
        limit = bare_decode_rate(built["corpus"])
        ours = {w: stream_rate(built["corpus"], w, epochs=1 if w == 0 else 2) for w in (0, 1, 2)}
        folder = {w: folder_rate(built["files"], built["stats"], w) for w in (1, 2)}
        read, selected, total = query_bytes(built["corpus"], n)
    name = f"loader ({SIZE}px PNG -> {CROP})"
    cores = H100_SWIN_B_192 / ours[0]
    return [
        Figure(name, "stream in process, samples/s", ours[0], limit, "bare decode loop, 1 core", "samples/s",
               ours[0] / limit, ">= 0.9"),
        Figure(name, "stream 1 worker, samples/s", ours[1], limit, "bare decode loop, 1 core", "samples/s",
               ours[1] / limit, ">= 0.9"),
        Figure(name, "stream 1 worker vs ImageFolder", ours[1], folder[1], "ImageFolder 1 worker", "samples/s",
               ours[1] / folder[1], ">= 1"),
        Figure(name, "stream 2 workers vs ImageFolder", ours[2], folder[2], "ImageFolder 2 workers", "samples/s",
               ours[2] / folder[2], ">= 1"),
        Figure(name, "stream 2 workers vs 2x limit", ours[2], 2 * limit, "2 x bare decode", "samples/s",
               ours[2] / (2 * limit), "~0.9 (2 shared cores)"),
        Figure(name, "bytes read by a 5% query", read, selected, "selected samples' bytes", "bytes",
               read / selected, f"<= 1.2 (corpus {total:,} B)"),
        Figure(name, "loader cores per H100 (Swin-B 192)", cores, None, f"{H100_SWIN_B_192} img/s assumed",
               "cores", None, "estimate"),
    ]
