"""Scenes read over HTTP range requests (/vsicurl/): window by window, never downloaded whole."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from pipeline.gdal_env import gdal_env
from pipeline.ingest import read_scene_info
from pipeline.scene import SourceRef
from pipeline.sensors import DEFAULT_RULES, match_rule
from pipeline.tiler import TileConfig, stage_scene
from pipeline.windows import TileGrid
from tests.support.http_server import serve_directory

SIZE, BLOCK, TILE = 2048, 256, 256


def write_cog(path, rng) -> None:
    """A cloud-optimized GeoTIFF (overviews before the data), textured so blocks don't vanish."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    base = (np.sin(xx / 17.0) * np.cos(yy / 23.0) * 60 + 120).astype(np.int16)
    pixels = np.stack([base + rng.integers(-20, 20, base.shape) for _ in range(3)]).clip(1, 255).astype(np.uint8)
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=3, dtype="uint8", crs="EPSG:32631",
                   transform=from_origin(448000, 5412000, 0.5, 0.5))
    with MemoryFile() as memory:
        with memory.open(**profile) as staged:
            staged.write(pixels)
        with memory.open() as staged:
            rasterio.shutil.copy(staged, path, driver="COG", blocksize=BLOCK, compress="deflate",
                                 overview_resampling="average")


def block_bytes(path) -> int:
    """Compressed bytes of every full-resolution block (GDAL's TIFF metadata domain)."""
    total = 0
    with rasterio.open(path) as src:
        for row in range(SIZE // BLOCK):
            for col in range(SIZE // BLOCK):
                total += int(src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    return total


def test_remote_scene_is_tiled_by_range_requests(tmp_path):
    write_cog(tmp_path / "scene.tif", np.random.default_rng(0))
    blocks = block_bytes(tmp_path / "scene.tif")
    file_size = (tmp_path / "scene.tif").stat().st_size
    with serve_directory(tmp_path) as (base, counter):
        uri = f"{base}/scene.tif"
        scene = read_scene_info(SourceRef(uri), DEFAULT_RULES)
        ingest_bytes = counter.bytes
        counter.reset()
        config = TileConfig(grid=TileGrid(tile_size=TILE, edge="drop"))
        parquet = stage_scene(scene, match_rule(uri, DEFAULT_RULES, scene.sensor), config, tmp_path / "staging")
        tile_bytes = counter.bytes
    rows = pq.read_table(parquet)
    assert rows.num_rows == (SIZE // TILE) ** 2
    assert ingest_bytes < 0.25 * file_size, "ingest reads headers and overviews, not the scene"
    # Tiling reads each full-resolution block once: served bytes stay within 1.5x of the blocks.
    assert tile_bytes <= 1.5 * blocks, (tile_bytes, blocks)
    assert tile_bytes >= 0.9 * blocks


def test_remote_window_reads_touch_only_their_blocks(tmp_path):
    """A tile stage over a 512 px-wide remote scene crop reads its blocks, not the whole file."""
    write_cog(tmp_path / "scene.tif", np.random.default_rng(1))
    with serve_directory(tmp_path) as (base, counter), gdal_env(f"{base}/scene.tif"):
        with rasterio.open(f"/vsicurl/{base}/scene.tif") as src:
            counter.reset()
            src.read(window=((0, 512), (0, 512)))
            served = counter.bytes
            expected = sum(int(src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1))
                           for r in range(2) for c in range(2))
    assert served <= 1.5 * expected + 64 * 1024, (served, expected)
