import json

import pyarrow as pa
import pytest
import shapely

from catalogs.geoparquet import write_geoparquet
from catalogs.query import Query, byte_ranges, filter_table, read_catalog, shard_list, to_geodataframe
from tests.catalogs.tables import random_catalog


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    table = random_catalog(4000, seed=3, nongeo=30)
    write_geoparquet(table, root / "catalog" / "tiles.parquet", row_group_size=400)
    return str(root), table


def brute_force(table: pa.Table, region=None, sensors=(), gsd=(None, None), splits=()):
    """The expected ids: a plain Python loop with shapely over every row."""
    ids = set()
    for row in table.to_pylist():
        if region is not None:
            if row["geometry"] is None or not shapely.from_wkb(row["geometry"]).intersects(region):
                continue
        if sensors and row["sensor"] not in sensors:
            continue
        if gsd[0] is not None and row["gsd_m"] < gsd[0]:
            continue
        if gsd[1] is not None and row["gsd_m"] > gsd[1]:
            continue
        if splits and row["split"] not in splits:
            continue
        ids.add(row["tile_id"])
    return ids


@pytest.mark.parametrize("bbox", [(2.2, 48.8, 2.5, 49.0), (7.0, 46.0, 8.0, 47.0), (-30, -60, 30, 60),
                                  (179.5, -17.5, -179.5, -16.5)])
def test_bbox_equals_brute_force(corpus, bbox):
    root, table = corpus
    query = Query(bbox=bbox, antimeridian=bbox[0] > bbox[2])  # crossing it is asked for explicitly
    got = read_catalog(root, query)
    region = query.region()
    assert set(got.column("tile_id").to_pylist()) == brute_force(table, region)
    assert got.num_rows > 0


@pytest.mark.parametrize("columns", [None, ["tile_id"]])
def test_footprints_only_near_the_box_are_not_returned(tmp_path, columns):
    """A box query tests the footprint of every row on its edge: a turned tile whose bounding box
    reaches into the box while the tile itself does not is left out, on disk as in memory."""
    table = random_catalog(3000, seed=5, diamonds=True, largest=0.2)
    write_geoparquet(table, tmp_path / "catalog" / "tiles.parquet", row_group_size=300)
    for bbox in [(2.3, 48.8, 2.4, 48.9), (179.9, -17.1, -179.9, -16.9)]:
        query = Query(bbox=bbox, antimeridian=bbox[0] > bbox[2])
        expected = brute_force(table, query.region())
        near = {row["tile_id"] for row in table.to_pylist() if row["bbox"] and _boxes_overlap(row["bbox"], query)}
        assert expected and near - expected  # some only come near: their boxes overlap, they do not
        got = read_catalog(str(tmp_path), query, columns=columns)
        assert set(got.column("tile_id").to_pylist()) == expected
        assert got.column_names == (columns or table.column_names)
        assert set(filter_table(table, query).column("tile_id").to_pylist()) == expected


def _boxes_overlap(box: dict, query: Query) -> bool:
    parts = query.region().geoms if hasattr(query.region(), "geoms") else [query.region()]
    return any(shapely.box(box["xmin"], box["ymin"], box["xmax"], box["ymax"]).intersects(part) for part in parts)


def test_polygon_and_filters_equal_brute_force(corpus):
    root, table = corpus
    polygon = shapely.Polygon([(1.8, 48.4), (2.9, 48.6), (2.6, 49.4), (1.9, 49.1)])
    geojson = json.dumps({"type": "Feature", "geometry": shapely.geometry.mapping(polygon)})
    for text in (polygon.wkt, geojson):
        query = Query(polygon=text, sensors=("aerial", "sentinel2"), gsd_max=10.0, splits=("train",))
        got = set(read_catalog(root, query).column("tile_id").to_pylist())
        assert got == brute_force(table, polygon, ("aerial", "sentinel2"), (None, 10.0), ("train",))
        assert got


def test_dates_quality_and_in_memory_filter(corpus):
    root, table = corpus
    query = Query(date_from="2021-01-01", date_to="2021-12-31", min_quality=0.5)
    got = read_catalog(root, query)
    years = {t.year for t in got.column("acquired").to_pylist()}
    assert years == {2021}
    assert min(got.column("quality").to_pylist()) >= 0.5
    assert filter_table(table, query).num_rows == got.num_rows
    expected = sum(1 for r in table.to_pylist() if r["acquired"].year == 2021 and r["quality"] >= 0.5)
    assert got.num_rows == expected


def test_spatial_query_drops_non_georeferenced_rows(corpus):
    root, table = corpus
    everything = read_catalog(root)
    assert everything.num_rows == table.num_rows
    spatial = read_catalog(root, Query(bbox=(-180, -90, 180, 90)))
    assert spatial.num_rows == table.num_rows - 30


def test_outputs_for_training(corpus):
    root, _ = corpus
    got = read_catalog(root, Query(bbox=(2.2, 48.8, 2.5, 49.0)))
    frame = to_geodataframe(got)
    assert frame.crs.to_epsg() == 4326 and len(frame) == got.num_rows
    ranges = byte_ranges(got)
    assert [r[:2] for r in ranges] == sorted(r[:2] for r in ranges)
    assert set(shard_list(got)) == {r[0] for r in ranges}
    columns = read_catalog(root, Query(bbox=(2.2, 48.8, 2.5, 49.0)), columns=["tile_id"])
    assert columns.column_names == ["tile_id"] and columns.num_rows == got.num_rows


def test_label_matches_detection_object_classes_whole_names_only():
    import pyarrow as pa

    from catalogs.query import Query, filter_table

    table = pa.table({"label": pa.array([None, None, "x"], pa.string()),
                      "classes": ["small-vehicle,plane", "large-vehicle", None]})
    assert filter_table(table, Query(labels=("small-vehicle",))).column("classes").to_pylist() == ["small-vehicle,plane"]
    assert filter_table(table, Query(labels=("vehicle", "x"))).column("label").to_pylist() == ["x"]
    assert filter_table(table.drop_columns(["classes"]), Query(labels=("x",))).num_rows == 1  # older catalogs


def test_spatial_query_sees_a_rewritten_catalog_and_selects_columns(tmp_path):
    """The parsed footer is cached per file version: rewriting the catalog must not serve stale rows."""
    path = tmp_path / "catalog" / "tiles.parquet"
    bbox = (2.2, 48.8, 2.5, 49.0)
    write_geoparquet(random_catalog(600, seed=1), path, row_group_size=100)
    first = read_catalog(str(tmp_path), Query(bbox=bbox), columns=["tile_id", "shard"])
    assert first.column_names == ["tile_id", "shard"] and first.num_rows > 0
    table = random_catalog(900, seed=2)
    write_geoparquet(table, path, row_group_size=100)
    again = read_catalog(str(tmp_path), Query(bbox=bbox, splits=("train",)), columns=["tile_id"])
    region = Query(bbox=bbox).region()
    assert set(again.column("tile_id").to_pylist()) == brute_force(table, region, splits=("train",))
    assert read_catalog(str(tmp_path), Query(bbox=(100, 10, 101, 11)), columns=["tile_id"]).num_rows == 0


def test_max_cloud_keeps_clear_and_unmeasured_tiles():
    table = random_catalog(200, seed=5, nongeo=0)
    clouds = [None if i % 4 == 0 else (i % 10) / 10 for i in range(table.num_rows)]
    table = table.set_column(table.schema.get_field_index("cloud_frac"), "cloud_frac",
                             pa.array(clouds, pa.float32()))
    got = filter_table(table, Query(max_cloud=0.3)).column("cloud_frac").to_pylist()
    assert len(got) == sum(1 for c in clouds if c is None or c <= 0.3 + 1e-6)
    assert all(c is None or c <= 0.3 + 1e-6 for c in got)
