"""Bbox queries on a GeoParquet catalog of 10⁶ and 10⁷ rows: ours against the same rows
unsorted, and against DuckDB on the same file.

Rows imitate a corpus catalog (every column a build writes): scenes of 32 x 32 tiles of
~250 m scattered over the land-ish latitudes, one row per tile. A query is a 0.1° box
centred on a random scene (~1,000-2,000 rows back); the figure is the median over queries of
``catalogs.query.read_catalog`` (every column, exact footprint test) in this process, the
same queries on the same rows written in random order, and DuckDB's
``SELECT * ... WHERE bbox.xmin <= ... AND ...`` on the sorted file.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.figures import Figure

NAME = "catalog"
SCENE_TILES = 32  # per side
TILE_DEG = 0.0025
QUERY_DEG = 0.1


def scene_origins(n: int, seed: int = 0) -> np.ndarray:
    """[scenes, 2] lon/lat of the top-left corner of each scene of ``n`` rows."""
    rng = np.random.default_rng(seed)
    scenes = -(-n // (SCENE_TILES * SCENE_TILES))
    return np.stack([rng.uniform(-170, 170, scenes), rng.uniform(-55, 65, scenes)], 1)


def synthetic_catalog(n: int, seed: int = 0, *, origin: np.ndarray | None = None, first: int = 0):
    """``n`` kept rows with every catalog column, in scene order, for the scenes of ``origin``
    (default: ``scene_origins(n, seed)``) from row ``first`` on."""
    import pyarrow as pa
    import shapely

    from catalogs.schema import CATALOG_SCHEMA, KEPT, conform

    rng = np.random.default_rng([seed, first])
    per_scene = SCENE_TILES * SCENE_TILES
    origin = scene_origins(n, seed) if origin is None else origin
    scenes = len(origin)
    index = np.arange(first, first + n)
    scene, cell = np.divmod(index, per_scene)
    row, col = np.divmod(cell, SCENE_TILES)
    xmin = origin[scene, 0] + col * TILE_DEG
    ymax = origin[scene, 1] - row * TILE_DEG
    xmax, ymin = xmin + TILE_DEG, ymax - TILE_DEG
    wkb = shapely.to_wkb(shapely.box(xmin, ymin, xmax, ymax))
    hexes = _hex(rng, n, 8)
    scene_names = np.char.mod("s%06d", np.arange(scenes))
    split = np.array(["train", "val", "test"])[rng.choice(3, n, p=[0.9, 0.05, 0.05])]
    means = pa.FixedSizeListArray.from_arrays(pa.array(rng.uniform(50, 150, 3 * n).astype(np.float32)), 3)
    columns = {
        "tile_id": pa.array(hexes), "scene_id": pa.array(scene_names[scene]),
        "uri": pa.array(np.char.add("s3://bucket/raw/", scene_names)[scene]),
        "sensor": pa.array(np.array(["aerial", "sentinel2", "naip"])[scene % 3]),
        "bands": pa.array(["red,green,blue"] * n), "band_count": pa.array(np.full(n, 3, np.int16)),
        "dtype": pa.array(["uint8"] * n), "format": pa.array(["png"] * n),
        "gsd_m": pa.array(np.full(n, 0.5, np.float32)), "width": pa.array(np.full(n, 512, np.int32)),
        "height": pa.array(np.full(n, 512, np.int32)), "src_crs": pa.array(["EPSG:32631"] * n),
        "georeferenced": pa.array(np.ones(n, bool)),
        "acquired": pa.array((scene * 86_400_000).astype("datetime64[ms]")).cast(pa.timestamp("ms", tz="UTC")),
        "col_off": pa.array((col * 512).astype(np.int32)), "row_off": pa.array((row * 512).astype(np.int32)),
        "geometry": pa.array(wkb, pa.binary()),
        "bbox": pa.StructArray.from_arrays([pa.array(v) for v in (xmin, ymin, xmax, ymax)],
                                           ["xmin", "ymin", "xmax", "ymax"]),
        "lon": pa.array(xmin + TILE_DEG / 2), "lat": pa.array(ymax - TILE_DEG / 2),
        "valid_frac": pa.array(np.ones(n, np.float32)),
        "quality": pa.array(rng.uniform(0.3, 1, n).astype(np.float32)),
        "band_mean": pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n + 1, 3, dtype=np.int32)),
                                              means.flatten()),
        "phash": pa.array(rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)),
        "status": pa.array([KEPT] * n), "split": pa.array(split),
        "shard": pa.array(np.char.mod("shards/train-%06d.tar", np.arange(first // 5000, (first + n - 1) // 5000 + 1))
                          [index // 5000 - first // 5000]),
        "offset": pa.array(index % 5000 * 400_000), "size": pa.array(np.full(n, 400_000)),
        "sha256": pa.array(_hex(rng, n, 32)),
    }
    return conform(pa.table(columns), CATALOG_SCHEMA)


def _hex(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    """``n`` random hex strings of ``2 * nbytes`` characters (vectorized: 10⁷ in a second)."""
    return np.frombuffer(rng.bytes(n * nbytes).hex().encode(), dtype=f"S{2 * nbytes}").astype(str)


def _queries(origin: np.ndarray, count: int, seed: int = 1) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(seed)
    picked = origin[rng.choice(len(origin), count, replace=False)]
    centre = picked + np.array([SCENE_TILES * TILE_DEG / 2, -SCENE_TILES * TILE_DEG / 2])
    return [(x - QUERY_DEG / 2, y - QUERY_DEG / 2, x + QUERY_DEG / 2, y + QUERY_DEG / 2) for x, y in centre]


def _median_ms(run, boxes) -> tuple[float, float, int]:
    """(median wall ms, median CPU ms of this process's threads, rows returned) per query;
    one untimed warm-up query first. CPU time is the figure to read on a loaded machine."""
    run(boxes[0])
    walls, cpus, rows = [], [], 0
    for box in boxes:
        start, cpu = time.perf_counter(), time.process_time()
        rows += run(box)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3, rows


def _ours(corpus: Path):
    from catalogs.query import Query, read_catalog

    return lambda box: read_catalog(str(corpus), Query(bbox=box)).num_rows


def _duckdb(path: Path):
    import duckdb

    con = duckdb.connect()

    def run(box):
        x0, y0, x1, y1 = box
        return len(con.execute(
            f"SELECT * FROM read_parquet('{path}') WHERE bbox.xmin <= {x1} AND bbox.xmax >= {x0} "
            f"AND bbox.ymin <= {y1} AND bbox.ymax >= {y0}").fetchall())
    return run


def _write_streamed(n: int, root: Path, chunk: int = 1_000_000) -> tuple[Path, np.ndarray]:
    """A catalog of ``n`` rows written a chunk at a time (memory: one chunk, not 5 GB at 10⁷),
    with the catalog's writer settings; scenes are generated in Hilbert order of their
    corners, so rows come out spatially sorted as ``write_geoparquet`` would sort them."""
    import json

    import pyarrow.parquet as pq

    from catalogs.geoparquet import ROW_GROUP_SIZE, geo_metadata, parquet_options
    from catalogs.hilbert import lonlat_hilbert
    from catalogs.layout import CATALOG_FILES

    origin = scene_origins(n)
    origin = origin[np.argsort(lonlat_hilbert(origin[:, 0], origin[:, 1]), kind="stable")]
    corpus = root / f"sorted-{n}"
    (corpus / "catalog").mkdir(parents=True)
    writer = None
    for first in range(0, n, chunk):
        table = synthetic_catalog(min(chunk, n - first), origin=origin, first=first)
        if writer is None:
            meta = {**(table.schema.metadata or {}), b"geo": json.dumps(geo_metadata(table.slice(0, 1000))).encode()}
            schema = table.schema.with_metadata(meta)
            writer = pq.ParquetWriter(corpus / CATALOG_FILES["tiles"], schema, **parquet_options(schema))
        writer.write_table(table.replace_schema_metadata(schema.metadata), row_group_size=ROW_GROUP_SIZE)
    writer.close()
    return corpus, origin


def _write(table, root: Path, name: str, *, sort: bool) -> Path:
    from catalogs.geoparquet import write_geoparquet
    from catalogs.layout import CATALOG_FILES

    corpus = root / name
    (corpus / "catalog").mkdir(parents=True)
    write_geoparquet(table, corpus / CATALOG_FILES["tiles"], sort=sort)
    return corpus


def _at(root: Path, n: int, queries: int, *, peers: bool) -> list[Figure]:
    import pyarrow as pa

    from catalogs.layout import CATALOG_FILES

    if peers:
        table, origin = synthetic_catalog(n), scene_origins(n)
        sorted_corpus = _write(table, root, f"sorted-{n}", sort=True)
    else:
        sorted_corpus, origin = _write_streamed(n, root)
    boxes = _queries(origin, queries)
    ours, ours_cpu, rows = _median_ms(_ours(sorted_corpus), boxes)
    label = f"bbox query {QUERY_DEG}° ({rows / len(boxes):,.0f} rows back), {n:.0e} rows"
    size = (sorted_corpus / CATALOG_FILES["tiles"]).stat().st_size / 1e6
    figures = [Figure(NAME, f"catalog file size, {n:.0e} rows", size, None, "-", "MB", None, ""),
               Figure(NAME, f"{label}, median CPU ms (ours)", ours_cpu, None, "-", "ms", None, "≤ 10")]
    if peers:
        shuffled = table.take(pa.array(np.random.default_rng(2).permutation(n)))
        unsorted, _, _ = _median_ms(_ours(_write(shuffled, root, f"unsorted-{n}", sort=False)), boxes)
        duck, duck_cpu, duck_rows = _median_ms(_duckdb(sorted_corpus / CATALOG_FILES["tiles"]), boxes)
        figures += [
            Figure(NAME, f"{label}, median wall", ours, unsorted, "same rows unsorted (ours)", "ms",
                   unsorted / ours, "≥ 15× faster"),
            Figure(NAME, f"{label}, median wall", ours, duck, "DuckDB, same file (bbox columns)", "ms",
                   duck / ours, "> 1 (ours ≤ 10 ms)"),
            Figure(NAME, f"{label}, median CPU", ours_cpu, duck_cpu, "DuckDB, same file (bbox columns)", "ms",
                   duck_cpu / ours_cpu, "> 1"),
        ]
        if duck_rows < rows:  # DuckDB filters on the covering only: it returns a superset
            raise AssertionError(f"DuckDB returned {duck_rows} rows, fewer than our {rows}")
    else:
        figures.append(Figure(NAME, f"{label}, median wall", ours, None, "-", "ms", None, "information"))
    return figures


def run(quick: bool) -> list[Figure]:
    """Full: 10⁶ rows (against unsorted and DuckDB) and 10⁷ rows; quick: 10⁵ and 10⁶."""
    small, large, queries = (100_000, 1_000_000, 15) if quick else (1_000_000, 10_000_000, 25)
    with tempfile.TemporaryDirectory(prefix="ringmo-catalog-") as tmp:
        root = Path(tmp)
        figures = _at(root, small, queries, peers=True)
        return figures + _at(root, large, queries, peers=False)
