"""Whole ``ringmo build`` against the source-decode + encode limit of the same tiles.

Scenes: deflate (predictor 2), 512-block-tiled GeoTIFFs in which every block is different (a
block of aerial-like texture from a pool, rotated, over a coarse field of its own), so dedup
keeps every tile and the build packs all of them. Two cases: RGB uint8 (PNG samples) and
4-band uint16 (the default multiband codec). Each build runs the real CLI in a fresh
interpreter (imports, cluster start, ingest, tile, curate, pack, catalog and report: every
fixed cost included), once in process (``--scheduler sync``) and once on a 2-worker
LocalCluster. The limit: decoding every scene in block-aligned strips plus encoding its tiles
with the sample codec, nothing else, in this process (per core), measured in the same run (the
best of two passes, decoding into one reused strip buffer). Beside it, the contract floor
(:func:`contract_floor`): that limit plus the work the corpus contracts add to any build
(screening and hashes per tile, sha256 of inputs, images and shards, the second pass over the
encoded bytes that shuffled shards need, the imports), each part timed with the project's own
fastest primitive: the highest ratio a build can reach, and how far ours is from it.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.figures import Figure, children_cpu, cpu_count

NAME = "build"
TILE = 512
TARGET_TILES = 2_000_000  # RingMo's corpus: 2·10⁶ tiles of 448²
TARGET_SIDE = 448
TARGET_CORES = 16


def _block(rng: np.random.Generator, pool: list[np.ndarray], bands: int, scale: float) -> np.ndarray:
    """``[TILE, TILE, bands]`` float32: a pooled texture, rotated, over a coarse field of its own
    (the field changes the block's low frequencies, so every block has its own pHash)."""
    import cv2

    texture = np.rot90(pool[int(rng.integers(len(pool)))], int(rng.integers(4)))
    field = cv2.resize(rng.random((4, 4, 3)).astype(np.float32), (TILE, TILE), interpolation=cv2.INTER_CUBIC)
    rgb = 0.5 * texture.astype(np.float32) / 255.0 + 0.5 * field
    if bands == 4:
        rgb = np.concatenate([rgb, rgb.mean(axis=2, keepdims=True) * 1.3], axis=2)
    return np.clip(rgb * scale, 0, scale)


@functools.lru_cache(maxsize=1)
def _pool() -> list[np.ndarray]:
    """The textures every scene's blocks draw from (each block adds its own coarse field)."""
    from benchmarks.tiling import _texture_block

    rng = np.random.default_rng(1234)
    return [_texture_block(rng, TILE) for _ in range(8)]


def make_scene(path: Path, side: int, seed: int, *, bands: int = 3, dtype: str = "uint8") -> Path:
    """A ``side`` x ``side`` scene, block by block, every block different."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    pool = _pool()
    scale = 230.0 if dtype == "uint8" else 9000.0
    x0 = 500000.0 + seed * side * 0.5  # scenes side by side: footprints never overlap
    profile = dict(driver="GTiff", width=side, height=side, count=bands, dtype=dtype, tiled=True,
                   blockxsize=TILE, blockysize=TILE, compress="deflate", predictor=2, zlevel=1,
                   crs="EPSG:32631", transform=Affine(0.5, 0.0, x0, 0.0, -0.5, 5000000.0),
                   **({"photometric": "RGB"} if bands == 3 else {}))
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, side, TILE):
            for col in range(0, side, TILE):
                block = _block(rng, pool, bands, scale).astype(dtype)
                dst.write(np.moveaxis(block, 2, 0), window=Window(col, row, TILE, TILE))
    return path


def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _read_all(path: Path, buffers: dict) -> None:
    """Only decode the scene: block-aligned strips into one buffer (kept in ``buffers`` for the
    next scene of the same shape, so the limit pays no new memory per scene)."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=96 * 2**20), rasterio.open(path) as src:
        shape = (src.count, TILE, src.width)
        strip = buffers.get((shape, src.dtypes[0]))
        if strip is None:
            strip = buffers[shape, src.dtypes[0]] = np.empty(shape, src.dtypes[0])
        for row in range(0, src.height - TILE + 1, TILE):
            src.read(window=Window(0, row, src.width, TILE), out=strip)


def previous_png(tile: np.ndarray) -> bytes:
    """The PNG encoder before ISA-L: OpenCV's libpng, UP filter, Huffman-only zlib level 1."""
    import cv2

    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    return cv2.imencode(".png", cv2.cvtColor(tile, cv2.COLOR_RGB2BGR), params)[1].tobytes()


def _sample_tiles(path: Path, count: int) -> tuple[list[np.ndarray], str]:
    """``count`` of the scene's tiles (``[TILE, TILE, C]``, row-major from the top left) and the
    project's sample format for them."""
    import rasterio
    from rasterio.windows import Window

    from pipeline.encode import choose_format

    with rasterio.open(path) as src:
        per_row = src.width // TILE
        tiles = [np.ascontiguousarray(np.moveaxis(src.read(window=Window(
            (i % per_row) * TILE, (i // per_row) * TILE, TILE, TILE)), 0, 2)) for i in range(count)]
        return tiles, choose_format(src.dtypes[0], src.count)


def _encode_sample(path: Path, count: int, encoder=None):
    """A function encoding ``count`` of the scene's tiles with ``encoder`` (default: the
    project's codec for the scene)."""
    from pipeline.encode import encode

    tiles, fmt = _sample_tiles(path, count)
    encoder = encoder or functools.partial(encode, fmt=fmt)
    return lambda: [encoder(tile) for tile in tiles]


def decode_seconds(paths: list[Path], repeats: int = 2) -> tuple[float, float]:
    """(wall, CPU) seconds on one core to decode every scene, nothing else: the best of
    ``repeats`` passes, so a slow stretch of the machine does not lower the bar the build is
    held to."""
    os.sync()  # the scenes just written are flushed before anything is timed
    buffers: dict = {}
    passes = [[_timed(lambda p=p: _read_all(p, buffers)) for p in paths] for _ in range(repeats)]
    return min(sum(w for w, _ in r) for r in passes), min(sum(c for _, c in r) for r in passes)


def limit_rate(decoded: tuple[float, float], paths: list[Path], tiles: int, sample: int, encoder=None,
               repeats: int = 2) -> tuple[float, float]:
    """(tiles/s, tiles per CPU-second) on one core of decoding every scene (``decoded``:
    :func:`decode_seconds`) and encoding every tile (timed on ``sample`` tiles, with ``encoder``
    or the project's codec, best of ``repeats``), nothing else."""
    encode = _encode_sample(paths[0], sample, encoder)
    encodes = [_timed(encode) for _ in range(repeats)]
    wall = decoded[0] + min(w for w, _ in encodes) / sample * tiles
    cpu = decoded[1] + min(c for _, c in encodes) / sample * tiles
    return tiles / wall, tiles / cpu


def contract_floor(paths: list[Path], tiles: int, sample: int, root: Path) -> dict[str, float]:
    """CPU seconds on one core of the work a build must do beyond decoding and encoding, by the
    corpus contracts, each part with the project's own fastest primitive and nothing around it:

    - ``screening``: every tile's quality measurement (valid fraction, std, entropy), 64-bit
      pHash (near duplicates) and XXH3 pixel hash (exact duplicates): the 8-bit view is the
      tile itself for uint8, an 8-bit scaled copy otherwise;
    - ``checksums``: sha256 of every input byte (the manifest's inputs, for resume), of every
      sample's image (the catalog's ``sha256``) and of every shard byte (the manifest's);
    - ``second pass``: shards are cut from the seeded shuffle of each split, known only once
      curation has seen every scene, so encoded bytes are staged, read back once and written
      again (streamed writes and a read-once read, as the build does);
    - ``imports``: a fresh interpreter importing the build (paid once per process).

    Per-tile parts are timed on ``sample`` tiles of the first scene (best of two) and scaled
    to ``tiles``; the rest on the real bytes. Seconds are process CPU time except ``imports``
    and ``second pass`` (wall: their cost is mostly the kernel's and the page cache's)."""
    import hashlib

    from catalogs.pagecache import read_once
    from catalogs.store import Store
    from pipeline.encode import encode
    from pipeline.hashing import phash_batch, pixel_hash
    from pipeline.ingest import file_checksum
    from pipeline.quality import measure

    pixels, fmt = _sample_tiles(paths[0], sample)
    views = [t if t.dtype == np.uint8 else (t >> 8).astype(np.uint8) for t in pixels]
    encoded = [encode(t, fmt) for t in pixels]
    scale = tiles / sample

    def screen():
        for start in range(0, sample, 64):  # the tiler's pHash batches
            phash_batch(views[start:start + 64])
        for tile, view in zip(pixels, views):
            measure(view, None)
            pixel_hash(tile)

    screening = min(_timed(screen)[1] for _ in range(2)) * scale
    sample_sums = min(_timed(lambda: [hashlib.sha256(b).digest() for b in encoded])[1] for _ in range(2))
    inputs = _timed(lambda: [file_checksum(str(p)) for p in paths])[1]
    checksums = inputs + 2 * sample_sums * scale  # each image once, each shard byte once

    store, blob = Store(str(root)), b"".join(encoded)
    copies = max(1, round(scale))

    def second_pass():
        with store.writing("floor.tiles", streamed=True) as out:  # staging
            for _ in range(copies):
                out.write(blob)
        ranges = [(str(root / "floor.tiles"), i * len(blob), len(blob)) for i in range(copies)]
        with store.writing("floor.tar", streamed=True) as out:  # the shard
            for data in read_once(ranges):
                out.write(data)

    second = _timed(second_pass)[0]
    for name in ("floor.tiles", "floor.tar"):
        (root / name).unlink()
    code = "import workflows.build, workflows.cli"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    imports = time.perf_counter() - start
    return {"screening": screening, "checksums": checksums, "second pass": second, "imports": imports}


def run_build(inputs: Path, corpus: Path, scheduler: list[str]) -> tuple[float, float, float, dict]:
    """(wall seconds, CPU seconds of every process, of which system seconds, manifest) of ``ringmo
    build`` in a fresh interpreter, imports included (the CPU time counts the cluster's workers:
    children reaped by their nanny are added to it, and so on up)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "workflows.cli", "build", str(inputs), str(corpus), "--tile-size",
               str(TILE), "--quiet", *scheduler]
    os.sync()  # earlier writes (scenes, the previous build) are not flushed on this build's time
    start, (user, system) = time.perf_counter(), children_cpu()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall, (user_after, system_after) = time.perf_counter() - start, children_cpu()
    if done.returncode != 0:
        raise RuntimeError(f"ringmo build failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu, system = user_after - user + system_after - system, system_after - system
    return wall, cpu, system, json.loads((corpus / "manifest.json").read_text())


def fresh_memory_seconds() -> float:
    """Seconds a fresh interpreter takes to touch 1 GiB of new memory: ~0.2-0.4 on bare metal;
    several times that on a VM whose host backs guest memory only when first touched (and takes
    freed memory back, so the page cache a build fills pays it again). Every GiB a build writes
    (staging, then shards) takes that much new page cache: the build's system time follows."""
    code = ("import time, numpy as np; t = time.perf_counter(); a = np.ones(2**30, np.uint8); "
            "print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


def disk_bytes(corpus: Path) -> int:
    return sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())


STAGES = ("start", "ingest", "tile", "curate", "pack", "catalog", "report", "staging")


def _stages(manifest: dict) -> str:
    timings = manifest.get("timings") or {}
    return ", ".join(f"{k} {timings[k]:.1f}" for k in STAGES if k in timings)


def extrapolated_hours(tiles_per_cpu_second: float) -> float:
    """Hours for 2·10⁶ tiles of 448² on 16 cores at a measured per-core rate (tiles of 512² per
    CPU-second of a whole build, fixed costs included), linear in pixels and cores."""
    pixels = (TARGET_SIDE / TILE) ** 2
    return TARGET_TILES * pixels / (tiles_per_cpu_second * TARGET_CORES) / 3600


def _case(root: Path, label: str, scenes: int, side: int, bands: int, dtype: str, sample: int,
          both: bool) -> list[Figure]:
    inputs = root / f"in-{label}"
    inputs.mkdir()
    paths = [make_scene(inputs / f"scene{i}.tif", side, seed=i, bands=bands, dtype=dtype) for i in range(scenes)]
    tiles = scenes * (side // TILE) ** 2
    decoded = decode_seconds(paths)
    limit, limit_cpu = limit_rate(decoded, paths, tiles, sample)
    before = limit_rate(decoded, paths, tiles, sample, previous_png)[0] if dtype == "uint8" else None
    name = f"{label}, {scenes} scenes {side}px, {tiles} tiles of {TILE}"
    parts = contract_floor(paths, tiles, sample, root)
    work = tiles / limit + sum(v for k, v in parts.items() if k != "imports")  # one core's share
    spelled = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
    figures = []
    runs = [("1 process", ["--scheduler", "sync"], 1)] + ([("2 workers", ["--workers", "2"], 2)] if both else [])
    for how, flags, cores in runs:
        corpus = root / f"corpus-{label}-{cores}"
        wall, cpu, system, manifest = run_build(inputs, corpus, flags)
        kept = manifest["summary"]["tiles"]["kept"]
        shard_bytes = sum(s["bytes"] for s in manifest["shards"])
        rate = kept / wall
        floor = tiles / (work / cores + parts["imports"])
        figures += [
            Figure(NAME, f"contract floor: tiles/s of decode + encode + the work the contracts add, {how}, "
                   f"{name} (s: {spelled}; every part but imports split over {cores} core(s))", floor,
                   limit * cores, f"source decode + encode limit x {cores}", "tiles/s", floor / (limit * cores),
                   "(information: the highest ratio a build can reach)"),
            Figure(NAME, f"tiles/s, whole build vs the contract floor, {how}, {name}", rate, floor,
                   "contract floor", "tiles/s", rate / floor, "(information: 1 = mandated work only)"),
            Figure(NAME, f"tiles/s, whole build, {how}, {name} (stages s: {_stages(manifest)})", rate,
                   limit * cores, f"source decode + encode limit x {cores}", "tiles/s", rate / (limit * cores),
                   ">= 0.8" if cores == 1 else ">= 0.7"),
            Figure(NAME, f"tiles per CPU-second, whole build (every process), {how}, {name}", kept / cpu,
                   limit_cpu, "source decode + encode limit, per CPU-second", "tiles/cpu-s",
                   kept / cpu / limit_cpu, "(load-independent)"),
            *([Figure(NAME, f"tiles/s, whole build, {how}, {name}, vs the PNG encoder before", rate,
                      before * cores, f"decode + encode limit x {cores} with OpenCV's Huffman-only PNG",
                      "tiles/s", rate / (before * cores), "(information: > 1 beats the old codec's limit)")]
              if before else []),
            Figure(NAME, f"system CPU-seconds (kernel: page cache, page faults), whole build, {how}, {name}", system,
                   None, "-", "s", None, f"(information: {2 * shard_bytes / 2**30:.1f} GiB of staging + shards "
                   "written)"),
            Figure(NAME, f"disk after build / shard bytes, {how}, {name}", disk_bytes(corpus) / 1e6,
                   shard_bytes / 1e6, "shard bytes", "MB", disk_bytes(corpus) / shard_bytes, "<= 1.1"),
        ]
        if cores == 1:
            figures.append(Figure(NAME, f"extrapolated hours for 2e6 tiles of {TARGET_SIDE}px on {TARGET_CORES} "
                                  f"cores, {label} (whole 1-process build, tiles per CPU-second x 16)",
                                  extrapolated_hours(kept / cpu), None, "-", "h", None, "< 1"))
        if kept != tiles:
            figures.append(Figure(NAME, f"tiles kept of generated, {how}, {name}", kept, tiles,
                                  "generated tiles", "tiles", kept / tiles, "= 1"))
    return figures


def run(quick: bool) -> list[Figure]:
    """Full: 8 scenes of 8192 px (2048 tiles), RGB uint8 and uint16 4-band; quick: 2 RGB scenes
    of 1536 px (18 tiles) and one 4-band 1024 px scene. First, the machine's cost of new memory."""
    machine = [Figure(NAME, "machine: seconds to touch 1 GiB of new memory (fresh interpreter)",
                      fresh_memory_seconds(), None, "-", "s", None, "(information: ~0.3 on bare metal)")]
    with tempfile.TemporaryDirectory(prefix="ringmo-build-") as tmp:
        root = Path(tmp)
        if quick:
            return machine + (_case(root, "RGB uint8", 2, 1536, 3, "uint8", 8, both=cpu_count() > 1)
                              + _case(root, "4-band uint16", 1, 1024, 4, "uint16", 4, both=False))
        return machine + (_case(root, "RGB uint8", 8, 8192, 3, "uint8", 128, both=True)
                          + _case(root, "4-band uint16", 8, 8192, 4, "uint16", 128, both=True))
