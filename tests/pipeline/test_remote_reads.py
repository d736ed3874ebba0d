"""Scenes read over HTTP range requests (/vsicurl/): window by window, never downloaded whole."""

from __future__ import annotations

import json

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


def test_stac_item_over_http_with_relative_and_absolute_hrefs(tmp_path):
    """A STAC item fetched over HTTP: its asset hrefs (relative or absolute http) become scenes."""
    from pipeline.sources import discover

    write_cog(tmp_path / "scene.tif", np.random.default_rng(2))
    with serve_directory(tmp_path) as (base, counter):
        for name, href in (("relative.json", "scene.tif"), ("absolute.json", f"{base}/scene.tif")):
            item = {"type": "Feature", "stac_version": "1.0.0", "id": name, "geometry": None,
                    "properties": {"datetime": "2023-06-12T10:00:00Z", "platform": "sentinel-2a"},
                    "assets": {"visual": {"href": href, "type": "image/tiff; application=geotiff"}}}
            (tmp_path / name).write_text(json.dumps(item))
            refs, problems = discover([f"{base}/{name}"])
            assert problems == [] and [r.uri for r in refs] == [f"{base}/scene.tif"]
            assert refs[0].acquired.year == 2023
        counter.reset()
        scene = read_scene_info(refs[0], DEFAULT_RULES)
    assert (scene.width, scene.height) == (SIZE, SIZE) and scene.georeferenced
    assert counter.bytes < 0.25 * (tmp_path / "scene.tif").stat().st_size


def test_s3_prefix_and_glob_list_raster_objects(s3, tmp_path):
    import fsspec

    from pipeline.sources import discover

    fs = fsspec.filesystem("s3")
    for name in ("raw/a.tif", "raw/sub/b.TIF", "raw/notes.txt", "raw/c.tif.aux.xml"):
        fs.pipe_file(f"{s3.bucket}/{name}", b"x")
    refs, problems = discover([s3.url("raw/")])
    assert [r.uri for r in refs] == [s3.url("raw/a.tif"), s3.url("raw/sub/b.TIF")] and problems == []
    refs, _ = discover([s3.url("raw/*.tif")])
    assert [r.uri for r in refs] == [s3.url("raw/a.tif")]
    refs, problems = discover([s3.url("empty/")])
    assert refs == [] and problems == [(s3.url("empty/"), "matched no raster objects")]


def test_s3_scene_is_tiled_by_range_requests(s3, tmp_path):
    """/vsis3/ against an S3-compatible endpoint given as AWS_ENDPOINT_URL: blocks, not the file."""
    import fsspec

    write_cog(tmp_path / "scene.tif", np.random.default_rng(3))
    blocks = block_bytes(tmp_path / "scene.tif")
    file_size = (tmp_path / "scene.tif").stat().st_size
    fsspec.filesystem("s3").put_file(str(tmp_path / "scene.tif"), f"{s3.bucket}/raw/scene.tif")
    uri = s3.url("raw/scene.tif")
    s3.served.reset()
    scene = read_scene_info(SourceRef(uri), DEFAULT_RULES)
    ingest_bytes = s3.served.bytes
    s3.served.reset()
    config = TileConfig(grid=TileGrid(tile_size=TILE, edge="drop"))
    parquet = stage_scene(scene, match_rule(uri, DEFAULT_RULES, scene.sensor), config, tmp_path / "staging")
    tile_bytes = s3.served.bytes
    assert pq.read_table(parquet).num_rows == (SIZE // TILE) ** 2
    assert scene.checksum.startswith("sha256-head:")
    assert ingest_bytes < 0.25 * file_size, (ingest_bytes, file_size)
    assert 0.9 * blocks <= tile_bytes <= 1.5 * blocks, (tile_bytes, blocks)
