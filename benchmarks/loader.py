"""Streaming loader: samples/s of ``training.data.MimStream`` against its limit, ImageFolder,
plain webdataset and LitData.

One synthetic corpus of aerial-like 512x512 RGB PNG tiles (the packer's default codec for uint8
RGB) is written as shards + catalog + manifest, and the same tiles as loose files. Measured:

* the limit: decoding the same image bytes in a bare loop on one core (no tar, no augment) with
  the loader's decoder (``training.png``: ISA-L inflate, whole images); tiles are encoded with the
  packer's own codec (``pipeline.encode``), as a built corpus holds them;
* ours: the full stream (plan, byte-range reads, tar parse, decode, RandomResizedCrop to 192,
  flips/rot90, PIMask, normalization, collation) in process and with 1 and 2 workers;
* the stream with ``on_device=True``: the workers only decode (a PNG down to its crop's last row,
  straight into its slot of the shared-memory batch) and draw the crops; crop, resize, flips and
  masks run batched on the training GPU, and JPEG tiles are not decoded by the workers at all
  (nvJPEG on the GPU). Not measured here: the figure is the loader workers' CPU per sample, the
  cores a GPU needs;
* the baseline: ``torchvision.datasets.ImageFolder`` over the loose files with the equivalent
  torchvision transforms and the same PIMask generator, 1 and 2 workers;
* peers, per CPU-second in this process, same crop + mask: plain webdataset's own pipeline
  (WebDataset -> decode("rgb8") -> map -> batched) over the same shards, and LitData
  (``litdata.optimize`` of the same encoded samples, its StreamingDataset, our decoder);
* bytes read by a catalog query selecting ~5 % of the samples, against those samples' bytes;
* the same stream over JPEG q95 tiles (4x cheaper to decode: the fixed per-sample work weighs more),
  with its default reduced-scale decoding (a crop shrunk >= 2x is decoded at 1/2 scale or less)
  against full-size decoding.

Rates exclude worker start-up, which a training run pays once (wall: timed from the first
batch; per worker CPU-second: runs of 1 and 3 epochs differenced, ``_steady``), and are the best
of 3 runs: the machine is shared, so the figures are noisy; the ratios are measured in the same run.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import shapely

from benchmarks.figures import Figure, children_cpu, stopwatch
from catalogs.geoparquet import write_geoparquet
from catalogs.keys import tile_id_for
from catalogs.layout import MANIFEST, shard_name
from catalogs.query import Query
from catalogs.schema import CATALOG_SCHEMA, KEPT, conform
from catalogs.tarformat import SampleTarWriter

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


def _encode(tile: np.ndarray, fmt: str) -> bytes:
    """The packer's own codec (``pipeline.encode``), as a built corpus holds the samples."""
    from pipeline.encode import encode

    return encode(tile, fmt, jpeg_quality=95)


def build(root: Path, n: int, per_shard: int = 64, fmt: str = "png") -> dict:
    """Shards + catalog + manifest under ``root/corpus``, loose files under ``root/files/0``."""
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
            tar = SampleTarWriter(handle)
        tile = _tile(rng)
        sums += tile.reshape(-1, 3).mean(0)
        squares += (tile.reshape(-1, 3).astype(np.float64) ** 2).mean(0)
        encoded = _encode(tile, fmt)
        (files / f"{i:06d}.{fmt}").write_bytes(encoded)
        key = tile_id_for("bench", i, 0, SIZE, SIZE, "bench")
        start, size = tar.add(key, [(fmt, encoded), ("json", json.dumps({"tile_id": key, "sensor": "aerial"}).encode())])
        lon = -180 + 360 * i / n
        box = shapely.box(lon, 0, lon + 0.01, 0.01)
        rows.append({"tile_id": key, "scene_id": "bench", "uri": "bench", "sensor": "aerial", "band_count": 3,
                     "status": KEPT, "shard": shard, "offset": start, "size": size,
                     "geometry": shapely.to_wkb(box), "lon": lon, "lat": 0.005,
                     "bbox": dict(zip(("xmin", "ymin", "xmax", "ymax"), box.bounds))})
    tar.close(), handle.close()
    write_geoparquet(conform(pa.Table.from_pylist(rows), CATALOG_SCHEMA), corpus / "catalog" / "tiles.parquet")
    mean = sums / n
    std = np.sqrt(squares / n - mean**2)
    stats = {"aerial": {"bands": ["r", "g", "b"], "dtype": "uint8", "mean": mean.tolist(), "std": std.tolist(), "count": n}}
    (corpus / MANIFEST).write_text(json.dumps({"stats": stats}))
    return {"corpus": corpus, "files": files.parent, "stats": stats["aerial"]}


@dataclass(frozen=True)
class Rate:
    """Samples per wall-clock second (after the first batch) and per CPU-second of the decoding
    processes (the workers, or this process without workers): CPU time is what "per core"
    means, and it is far less disturbed than wall time by other jobs on shared cores."""

    wall: float
    cpu: float
    samples: int = 0  # the run's sample count and CPU seconds, for ``_steady``
    cpu_seconds: float = 0.0
    system_ms: float = float("nan")  # system CPU ms per sample (the kernel: page faults, copies)
    system_seconds: float = 0.0


def _steady(measure) -> Rate:
    """A worker run's steady per-sample CPU: ``measure(epochs)`` at 1 and 3 epochs, differenced,
    so the workers' start-up (imports, compiled-code cache loads, the first plan), which a
    training run pays once, is not spread over a few hundred samples. Wall: the longer run's."""
    short, long = measure(1), measure(3)
    samples = long.samples - short.samples
    return Rate(long.wall, samples / (long.cpu_seconds - short.cpu_seconds),
                system_ms=(long.system_seconds - short.system_seconds) / samples * 1e3)


def bare_decode_rate(corpus: Path) -> Rate:
    """The limit: decode every image member's bytes in a loop (bytes already in memory)."""
    from training.data import Fetcher, open_source
    from catalogs.tarformat import parse_fragment
    from training.decode import decode_image

    index, _ = open_source(corpus=str(corpus))
    samples = [parse_fragment(f) for f in Fetcher(index).fetch(np.arange(len(index)))]
    payloads = [(bytes(s.get("png", s.get("jpg"))), "png" if "png" in s else "jpg") for s in samples]
    cv2.setNumThreads(1)
    cpu = time.process_time()
    with stopwatch() as elapsed:
        for payload, ext in payloads:  # the loader's own decoder (training.png for PNG, OpenCV for JPEG)
            decode_image(payload, ext)
    return Rate(len(payloads) / elapsed[0], len(payloads) / (time.process_time() - cpu))


def _rate(loader, workers: int) -> Rate:
    """Wall rate from the first batch on (no worker start-up); CPU rate over every sample."""
    count, first, start = 0, 0, None
    cpu_self, (user_children, system_children) = time.process_time(), children_cpu()
    for batch in loader:  # runs to the end, so the workers exit and their CPU time is counted
        images = batch["key"] if isinstance(batch, dict) else batch[0]
        count += len(images)
        if start is None:
            start, first = time.perf_counter(), len(images)
    wall = (count - first) / (time.perf_counter() - start)
    user_after, system_after = children_cpu()
    cpu = user_after - user_children + system_after - system_children if workers else time.process_time() - cpu_self
    system = system_after - system_children if workers else float("nan")
    return Rate(wall, count / cpu, count, cpu, system_seconds=system)


def stream_rate(corpus: Path, workers: int, epochs: int = 1, on_device: bool = False,
                reduced_jpeg: bool = True) -> Rate:
    """Our stream; ``on_device``: the workers only decode and draw (crop, resize, flips and
    masks run batched on the training GPU, which this CPU-only figure leaves out);
    ``reduced_jpeg=False``: JPEG tiles decoded at full size whatever the crop."""
    from training.data import MimStream, SampleSpec, make_loader, open_source
    from training.plan import StreamConfig
    from training.transforms import AugmentConfig

    index, stats = open_source(corpus=str(corpus))
    stream = MimStream(index, stats, StreamConfig(seed=0, batch_size=BATCH, shuffle_buffer=256),
                       SampleSpec(AugmentConfig(img_size=CROP), on_device=on_device, reduced_jpeg=reduced_jpeg))
    stream.set_position(0, 0, epochs=epochs)
    # fork: workers must be children of this process for their CPU time to be counted
    return _rate(make_loader(stream, workers, start_method="fork"), workers)


def _same_work(image: np.ndarray, i: int):
    """What our CPU path does to a decoded tile: the same crop/resize/flips and PIMask."""
    from training.masking import MaskConfig, generate_mask
    from training.transforms import AugmentConfig, augment

    rng = np.random.default_rng(i)
    return augment(image, AugmentConfig(img_size=CROP), rng), generate_mask(CROP, MaskConfig(), rng)


def webdataset_rate(corpus: Path, fmt: str) -> Rate:
    """Plain webdataset in this process: WebDataset -> decode("rgb8") -> map(same crop + mask)
    -> batched; per CPU-second of this process."""
    import webdataset as wds

    urls = sorted(str(p) for p in (corpus / "shards").glob("*.tar"))
    counter = iter(range(1 << 30))
    pipeline = (wds.WebDataset(urls, shardshuffle=False).decode("rgb8").to_tuple(fmt)
                .map(lambda t: _same_work(t[0], next(counter))).batched(BATCH))
    return _rate(pipeline, 0)


def _litdata_item(path: str) -> dict:
    return {"image": Path(path).read_bytes()}


class _LitSamples:
    """LitData's StreamingDataset of the encoded samples, decoded and cropped like ours."""

    def __init__(self, root: Path, fmt: str):
        import litdata

        self.data, self.fmt = litdata.StreamingDataset(str(root)), fmt

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        from training.decode import decode_image

        return _same_work(decode_image(self.data[i]["image"], self.fmt), i)


def litdata_rate(files: Path, root: Path, fmt: str) -> Rate:
    """``litdata.optimize`` of the same encoded samples (bytes, not re-encoded), then its
    StreamingDataset through a DataLoader in this process, decoded with our decoder: per
    CPU-second, so the difference to ours is the streaming format and loop."""
    import litdata
    import torch

    inputs = sorted(str(p) for p in files.rglob(f"*.{fmt}"))
    litdata.optimize(fn=_litdata_item, inputs=inputs, output_dir=str(root), chunk_bytes="64MB",
                     num_workers=1, verbose=False)
    loader = torch.utils.data.DataLoader(_LitSamples(root, fmt), batch_size=BATCH, num_workers=0)
    return _rate(loader, 0)


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


def folder_rate(files: Path, stats: dict, workers: int, epochs: int = 1) -> Rate:
    import torch

    dataset = torch.utils.data.ConcatDataset([_MaskedFolder(files, stats)] * epochs)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers, drop_last=True)
    return _rate(loader, workers)


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


def _best(measure, repeats: int) -> Rate:
    """The best of ``repeats`` runs: other jobs share the cores, so noise only slows a run down."""
    rates = [measure() for _ in range(repeats)]
    return Rate(max(r.wall for r in rates), max(r.cpu for r in rates), system_ms=min(r.system_ms for r in rates))


def run(quick: bool) -> list[Figure]:
    n, repeats = (96, 1) if quick else (320, 3)
    with tempfile.TemporaryDirectory(prefix="ringmo-loader-") as tmp:
        built = build(Path(tmp) / "png", n)
        corpus, files, stats = built["corpus"], built["files"], built["stats"]
        limit = _best(lambda: bare_decode_rate(corpus), repeats)
        ours = {0: _best(lambda: stream_rate(corpus, 0), repeats),
                1: _best(lambda: _steady(lambda e: stream_rate(corpus, 1, epochs=e)), repeats),
                2: _best(lambda: stream_rate(corpus, 2, epochs=2), repeats)}
        device = _best(lambda: _steady(lambda e: stream_rate(corpus, 1, epochs=e, on_device=True)), repeats)
        device_in_process = _best(lambda: stream_rate(corpus, 0, on_device=True), repeats)
        folder = {1: _best(lambda: _steady(lambda e: folder_rate(files, stats, 1, e)), repeats),
                  2: _best(lambda: folder_rate(files, stats, 2, 2), repeats)}
        peers = {"webdataset": _best(lambda: webdataset_rate(corpus, "png"), repeats),
                 "LitData": _best(lambda: litdata_rate(files, Path(tmp) / "lit-png", "png"), 1)}
        read, selected, total = query_bytes(corpus, n)
        jpg_built = build(Path(tmp) / "jpg", n, fmt="jpg")
        jpg = jpg_built["corpus"]
        jpg_limit = _best(lambda: bare_decode_rate(jpg), repeats)
        jpg_ours = _best(lambda: _steady(lambda e: stream_rate(jpg, 1, epochs=e)), repeats)
        jpg_full = _best(lambda: _steady(lambda e: stream_rate(jpg, 1, epochs=e, reduced_jpeg=False)), repeats)
        jpg_device = _best(lambda: _steady(lambda e: stream_rate(jpg, 1, epochs=e, on_device=True)), repeats)
        jpg_in_process = _best(lambda: stream_rate(jpg, 0), repeats)
        jpg_peers = {"webdataset": _best(lambda: webdataset_rate(jpg, "jpg"), repeats),
                     "LitData": _best(lambda: litdata_rate(jpg_built["files"], Path(tmp) / "lit-jpg", "jpg"), 1)}
    png, jpeg = f"loader ({SIZE}px PNG -> {CROP})", f"loader ({SIZE}px JPEG q95 -> {CROP})"
    per_cpu = "samples/CPU-s"
    return [
        Figure(png, "stream in process, per CPU-second", ours[0].cpu, limit.cpu, "bare decode loop", per_cpu,
               ours[0].cpu / limit.cpu, ">= 0.9"),
        Figure(png, "stream, per worker CPU-second (1 worker)", ours[1].cpu, limit.cpu, "bare decode loop", per_cpu,
               ours[1].cpu / limit.cpu, ">= 0.9"),
        Figure(png, "stream, decode only (crop+mask on GPU), per worker CPU-second", device.cpu, limit.cpu,
               "bare decode loop", per_cpu, device.cpu / limit.cpu, ">= 0.9"),
        Figure(png, "stream in process, decode only (crop+mask on GPU), per CPU-second", device_in_process.cpu,
               limit.cpu, "bare decode loop", per_cpu, device_in_process.cpu / limit.cpu,
               "(information)"),
        *[Figure(png, f"worker system CPU per sample (shared-memory batches), {path}", rate.system_ms, None, "-",
                 "ms", None, "(information)")
          for path, rate in (("all on CPU", ours[1]), ("crop+mask on GPU", device))],
        *[Figure(png, "stream in process, per CPU-second, vs peer", ours[0].cpu, rate.cpu,
                 f"{name} in process (same crop + mask)", per_cpu, ours[0].cpu / rate.cpu, "> 1")
          for name, rate in peers.items()],
        Figure(png, "per worker CPU-second vs ImageFolder", ours[1].cpu, folder[1].cpu, "ImageFolder 1 worker",
               per_cpu, ours[1].cpu / folder[1].cpu, ">= 1"),
        Figure(png, "1 worker, wall clock", ours[1].wall, folder[1].wall, "ImageFolder 1 worker", "samples/s",
               ours[1].wall / folder[1].wall, ">= 1"),
        Figure(png, "2 workers, wall clock", ours[2].wall, folder[2].wall, "ImageFolder 2 workers", "samples/s",
               ours[2].wall / folder[2].wall, ">= 1"),
        Figure(png, "2 workers vs 2 x limit, wall clock", ours[2].wall, 2 * limit.wall, "2 x bare decode (wall)",
               "samples/s", ours[2].wall / (2 * limit.wall), "(2 cores shared with other jobs)"),
        Figure(png, "bytes read by a 5% query", read, selected, "selected samples' bytes", "bytes",
               read / selected, f"<= 1.2 (corpus {total:,} B)"),
        Figure(png, "loader cores per H100 (Swin-B 192), all on CPU", H100_SWIN_B_192 / ours[1].cpu, None,
               f"{H100_SWIN_B_192} img/s assumed", "cores", None, "≤ 10 (either path)"),
        Figure(png, "loader cores per H100 (Swin-B 192), crop+mask on GPU", H100_SWIN_B_192 / device.cpu, None,
               f"{H100_SWIN_B_192} img/s assumed", "cores", None, "≤ 10"),
        Figure(jpeg, "stream, per worker CPU-second (1 worker)", jpg_ours.cpu, jpg_limit.cpu, "bare decode loop",
               per_cpu, jpg_ours.cpu / jpg_limit.cpu, "(information)"),
        Figure(jpeg, "stream, per worker CPU-second (1 worker), reduced-scale decoding", jpg_ours.cpu, jpg_full.cpu,
               "same stream, full-size decoding", per_cpu, jpg_ours.cpu / jpg_full.cpu, "> 1"),
        Figure(jpeg, "stream, JPEG decoded on the GPU (workers read, parse, draw), per worker CPU-second",
               jpg_device.cpu, jpg_limit.cpu, "bare decode loop", per_cpu, jpg_device.cpu / jpg_limit.cpu,
               "(information)"),
        *[Figure(jpeg, "stream in process, per CPU-second, vs peer", jpg_in_process.cpu, rate.cpu,
                 f"{name} in process (same crop + mask)", per_cpu, jpg_in_process.cpu / rate.cpu, "> 1")
          for name, rate in jpg_peers.items()],
        Figure(jpeg, "loader cores per H100 (Swin-B 192), all on CPU", H100_SWIN_B_192 / jpg_ours.cpu, None,
               f"{H100_SWIN_B_192} img/s assumed", "cores", None, "≤ 4 (either path)"),
        Figure(jpeg, "loader cores per H100 (Swin-B 192), decode+crop+mask on GPU (workers only; nvJPEG's "
               "host work in the training process is measured by the gpu benchmark)", H100_SWIN_B_192 / jpg_device.cpu,
               None, f"{H100_SWIN_B_192} img/s assumed", "cores", None, "≤ 4"),
    ]
