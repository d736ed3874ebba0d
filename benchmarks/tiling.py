"""Tile-stage throughput, scaling and memory against a naive tiler and the codec's own limit.

Scene: a deflate-compressed, 512-block-tiled uint8 RGB GeoTIFF with aerial-like content
(multi-scale smooth texture, field/building rectangles, roads, sensor noise; PNG compresses it
~2x). Codec: PNG level 1 through OpenCV, the project default for uint8 <= 4 bands (lossless;
``SensorRule.format="auto"``), used by all three contenders:
- ours: ``pipeline.tiler.stage_scene`` (strip reads, quality, hashes, footprints, staging);
- naive: open the file, ``read(window=...)`` and ``PIL.Image.save(png, compress_level=1)`` per
  tile, nothing else (no quality, hashes or footprints);
- encode-only limit: ``pipeline.encode.encode`` of the same tiles already in memory.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.figures import Figure, stopwatch

NAME = "tiling"
TILE = 512
BLOCK = 512


def _texture_block(rng: np.random.Generator, size: int) -> np.ndarray:
    """``[size, size, 3]`` uint8 aerial-like content."""
    import cv2

    img = np.zeros((size, size, 3), np.float32)
    for cells, weight in ((4, 0.5), (16, 0.3), (64, 0.15)):
        noise = rng.random((cells, cells, 3)).astype(np.float32)
        img += weight * cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):  # fields and roofs: flat-ish rectangles
        x, y = rng.integers(0, size - 32, 2)
        w, h = rng.integers(16, size // 3, 2)
        img[y:y + h, x:x + w] = img[y:y + h, x:x + w] * 0.3 + rng.random(3).astype(np.float32) * 0.7
    for _ in range(2):  # roads
        y = int(rng.integers(0, size - 8))
        img[y:y + 6] = 0.55
    img += rng.normal(0, 0.008, img.shape).astype(np.float32)  # sensor noise (~2 grey levels)
    return np.clip(img * 230, 0, 255).astype(np.uint8)


def make_scene(path: Path, size: int, seed: int = 0) -> Path:
    """Write a ``size`` x ``size`` scene block by block (from a pool of 16 distinct blocks)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    pool = [_texture_block(rng, BLOCK) for _ in range(16)]
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", tiled=True,
                   blockxsize=BLOCK, blockysize=BLOCK, compress="deflate", crs="EPSG:32631",
                   transform=from_origin(500000.0, 5000000.0, 0.5, 0.5), photometric="RGB")
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, BLOCK):
            for col in range(0, size, BLOCK):
                block = pool[int(rng.integers(len(pool)))]
                block = np.rot90(block, int(rng.integers(4))).copy()
                h, w = min(BLOCK, size - row), min(BLOCK, size - col)
                dst.write(np.moveaxis(block[:h, :w], 2, 0), window=Window(col, row, w, h))
    return path


def scene_info(path: Path):
    """Ingest's description of the scene (off the clock: checksumming is ingest's cost)."""
    from pipeline.ingest import read_scene_info
    from pipeline.scene import SourceRef

    return read_scene_info(SourceRef(str(path)))


def _stage(scene, out: str) -> tuple[int, float, float]:
    """One tiling task in this process: (candidates staged, start, end) on the shared clock.

    ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, comparable across processes.
    """
    import time

    import pyarrow.parquet as pq

    from pipeline.scene import SensorRule
    from pipeline.tiler import TileConfig, stage_scene
    from pipeline.windows import TileGrid

    config = TileConfig(grid=TileGrid(TILE))
    start = time.perf_counter()
    table = stage_scene(scene, SensorRule("bench"), config, out)
    end = time.perf_counter()
    return pq.read_metadata(table).num_rows, start, end


def _naive(path: Path, out: Path) -> int:
    import rasterio
    from PIL import Image
    from rasterio.windows import Window

    n = 0
    out.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path) as src:
        width, height = src.width, src.height
    for row in range(0, height, TILE):
        for col in range(0, width, TILE):
            with rasterio.open(path) as src:
                data = src.read(window=Window(col, row, TILE, TILE), boundless=True)
            Image.fromarray(np.moveaxis(data, 0, 2)).save(out / f"{n}.png", compress_level=1)
            n += 1
    return n


def _tiles_in_memory(path: Path, count: int) -> list[np.ndarray]:
    import rasterio
    from rasterio.windows import Window

    tiles = []
    with rasterio.open(path) as src:
        for i in range(count):
            row, col = divmod(i, src.width // TILE)
            data = src.read(window=Window(col * TILE, row * TILE, TILE, TILE))
            tiles.append(np.ascontiguousarray(np.moveaxis(data, 0, 2)))
    return tiles


def _encode_only(tiles: list[np.ndarray]) -> None:
    from pipeline.encode import encode

    for t in tiles:
        encode(t, "png")


def _peak_rss_child(scene, out: str, queue) -> None:
    _stage(scene, out)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def _measure_rss(scene, out: Path) -> float:
    """Peak RSS (MB) of a fresh interpreter that imports the tiler and tiles one scene."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_child, args=(scene, str(out), queue))
    proc.start()
    peak = queue.get()
    proc.join()
    return peak


def _warm(_: int) -> None:
    import pipeline.tiler  # noqa: F401  (import cost off the clock)


def _pool_rate(scenes: list, out: Path, workers: int) -> tuple[float, float]:
    """(tiles/s, wall seconds) of ``workers`` processes tiling ``scenes`` (one task each)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_warm, range(workers))
        results = pool.starmap(_stage, [(s, str(out / f"{i}")) for i, s in enumerate(scenes)])
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return sum(r[0] for r in results) / wall, wall


def run(quick: bool) -> list[Figure]:
    size, big = (3072, 8192) if quick else (10240, 20480)
    figs: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="ringmo-tiling-") as tmp:
        root = Path(tmp)
        scene = scene_info(make_scene(root / "scene.tif", size))
        _stage(scene_info(make_scene(root / "warm.tif", 1024, seed=5)), str(root / "warm"))
        n, start, end = _stage(scene, str(root / "ours"))
        ours = n / (end - start)
        with stopwatch() as t_naive:
            n_naive = _naive(Path(scene.uri), root / "naive")
        naive = n_naive / t_naive[0]
        tiles = _tiles_in_memory(Path(scene.uri), min(n, 64 if quick else 200))
        with stopwatch() as t_enc:
            _encode_only(tiles)
        limit = len(tiles) / t_enc[0]
        label = f"{size}px RGB scene, 512px tiles, PNG-1"
        figs += [
            Figure(NAME, f"tiles/s, 1 worker, {label}", ours, naive,
                   "naive open+read+PIL save per tile", "tiles/s", ours / naive, "> 1"),
            Figure(NAME, f"tiles/s vs encode-only limit, {label}", ours, limit,
                   "encode-only limit (same codec)", "tiles/s", ours / limit, ">= 0.85"),
        ]
        pair = [scene_info(make_scene(root / f"pair{i}.tif", size // 2 if quick else size * 3 // 4,
                                      seed=i + 1)) for i in range(2)]
        one, _ = _pool_rate(pair, root / "one", 1)
        two, _ = _pool_rate(pair, root / "two", 2)
        figs.append(Figure(NAME, "2 worker processes vs 1 (two scenes, one task each)", two, one,
                           "1 worker process", "tiles/s", two / one, ">= 1.7"))
        large = scene_info(make_scene(root / "large.tif", big, seed=9))
        peak = _measure_rss(large, root / "rss")
        scene_mb = big * big * 3 / 2**20
        figs.append(Figure(NAME, f"peak RSS of one tiling task, {big}x{big} RGB scene", peak,
                           scene_mb, "the scene's pixels in memory", "MB", peak / scene_mb,
                           "< 600 MB"))
    return figs
