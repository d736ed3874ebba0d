import json

import duckdb
import geopandas
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from catalogs.geoparquet import read_geo_metadata, write_geoparquet
from tests.catalogs.tables import random_catalog


@pytest.fixture
def catalog_file(tmp_path):
    table = random_catalog(3000, nongeo=20)
    path = tmp_path / "catalog" / "tiles.parquet"
    write_geoparquet(table, path, row_group_size=500)
    return table, path


def test_geo_metadata_is_geoparquet_1_1(catalog_file):
    table, path = catalog_file
    geo = read_geo_metadata(path)
    assert geo["version"] == "1.1.0"
    assert geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert column["geometry_types"] == ["Polygon"]
    assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert column["covering"]["bbox"]["ymax"] == ["bbox", "ymax"]
    footprints = shapely.from_wkb([g for g in table.column("geometry").to_pylist() if g])
    np.testing.assert_allclose(column["bbox"], shapely.total_bounds(footprints))
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}


def test_geopandas_reads_crs_and_footprints(catalog_file):
    table, path = catalog_file
    frame = geopandas.read_parquet(path)
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == table.num_rows
    by_id = dict(zip(table.column("tile_id").to_pylist(), table.column("geometry").to_pylist()))
    row = frame.dropna(subset=["lon"]).iloc[17]
    assert row.geometry.equals(shapely.from_wkb(by_id[row.tile_id]))


def test_duckdb_reads_it(catalog_file):
    table, path = catalog_file
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}') WHERE bbox.xmin > 0").fetchall()[0][0]
    expected = sum(1 for b in table.column("bbox").to_pylist() if b and b["xmin"] > 0)
    assert count == expected


def test_rows_sorted_along_curve_make_row_groups_compact(catalog_file):
    _, path = catalog_file
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 7  # 3020 rows in groups of 500
    # Sorted rows: most row groups span a small box (one cluster each), not the whole world.
    widths = []
    schema = pq.ParquetFile(path).schema_arrow
    xmin_col = [i for i in range(meta.num_columns) if meta.row_group(0).column(i).path_in_schema == "bbox.xmin"][0]
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(xmin_col).statistics
        if stats.has_min_max:  # the last group holds the rows with no footprint
            widths.append(stats.max - stats.min)
    assert np.median(widths) < 5.0, widths
    assert "geo" in json.dumps({k.decode(): 1 for k in schema.metadata})


def test_write_is_deterministic(tmp_path):
    table = random_catalog(500)
    write_geoparquet(table, tmp_path / "a.parquet")
    write_geoparquet(table.take(np.random.default_rng(1).permutation(500)), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
