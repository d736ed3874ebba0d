from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest

from pipeline.sources import discover
from pipeline.uris import is_remote, normalize_uri, to_gdal_path


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "scenes"
    for rel in ["a.tif", "sub/b.TIFF", "sub/deep/c.jp2", "d.png", "e.jpeg", "f.vrt",
                "a.tfw", "d.pgw", "a.tif.aux.xml", "meta.json", "notes.txt", "a.tif.ovr"]:
        _touch(root / rel)
    return root


def test_directory_walk_finds_rasters_and_skips_sidecars(tree):
    refs, problems = discover([str(tree)])
    names = [os.path.relpath(r.uri, tree) for r in refs]
    assert names == sorted(["a.tif", "d.png", "e.jpeg", "f.vrt", "sub/b.TIFF", "sub/deep/c.jp2"])
    assert problems == []
    assert all(r.origin == str(tree) for r in refs)


def test_refs_sorted_and_deduplicated(tree):
    refs, _ = discover([str(tree / "sub"), str(tree), str(tree / "a.tif")])
    uris = [r.uri for r in refs]
    assert uris == sorted(uris) and len(uris) == len(set(uris)) == 6


def test_order_of_inputs_does_not_matter(tree, list_file):
    one, _ = discover([str(tree), list_file])
    two, _ = discover([list_file, str(tree)])
    assert one == two


def test_symlink_outside_root_is_skipped_and_reported(tmp_path, tree):
    outside = _touch(tmp_path / "elsewhere" / "secret.tif")
    os.symlink(outside, tree / "link.tif")
    os.symlink(outside.parent, tree / "linkdir")
    os.symlink(tree / "a.tif", tree / "sub" / "alias.tif")  # inside: same file, one ref
    refs, problems = discover([str(tree)])
    assert not any("secret" in r.uri for r in refs)
    assert len(refs) == 6
    assert len(problems) == 2 and all("outside" in msg for _, msg in problems)
    assert any("link.tif" in msg for _, msg in problems)


def test_list_file(list_file, utm_tif, wgs84_tif):
    refs, problems = discover([list_file])
    assert problems == []
    by_uri = {r.uri: r for r in refs}
    assert set(by_uri) == {os.path.realpath(utm_tif), os.path.realpath(wgs84_tif),
                           "https://example.com/a/b.tif"}
    utm = by_uri[os.path.realpath(utm_tif)]
    assert (utm.sensor, utm.label, utm.origin) == ("landsat", "farm", list_file)


def test_missing_list_file_is_a_problem(tmp_path):
    refs, problems = discover([str(tmp_path / "missing.txt")])
    assert refs == [] and len(problems) == 1 and "could not be read" in problems[0][1]


def test_stac_item_picks_data_asset_and_carries_properties(stac_item, utm_tif):
    refs, problems = discover([stac_item])
    assert problems == []
    [ref] = refs
    assert ref.uri == os.path.realpath(utm_tif)
    assert ref.sensor == "sentinel-2"
    assert ref.acquired == datetime(2022, 7, 1, 10, 20, 30, tzinfo=timezone.utc)
    assert ref.origin.endswith("item.json#item-1")


def test_stac_asset_key_preferred_by_order(tmp_path):
    item = {"type": "Feature", "id": "i", "properties": {"datetime": None, "platform": "landsat-8"},
            "assets": {"visual": {"href": "https://h/v.tif"}, "b1": {"href": "b1.tif", "roles": ["data"]}}}
    path = tmp_path / "i.json"
    path.write_text(json.dumps(item))
    [ref], _ = discover([str(path)])
    assert ref.uri == "https://h/v.tif" and ref.sensor == "landsat-8" and ref.acquired is None
    [ref], _ = discover([str(path)], stac_assets=("data",))
    assert ref.uri == str(tmp_path / "b1.tif")


def test_stac_item_collection_and_catalog(tmp_path):
    feats = [{"type": "Feature", "id": f"s{i}", "properties": {"datetime": "2020-01-01T00:00:00Z"},
              "assets": {"image": {"href": f"img{i}.tif"}}} for i in range(3)]
    (tmp_path / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    (tmp_path / "one.json").write_text(json.dumps(feats[0] | {"id": "x", "assets": {"image": {"href": "z.tif"}}}))
    catalog = {"type": "Catalog", "id": "c", "links": [{"rel": "item", "href": "./one.json"},
                                                       {"rel": "root", "href": "./catalog.json"}]}
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    refs, problems = discover([str(tmp_path / "items.json"), str(tmp_path / "catalog.json")])
    assert problems == []
    assert [os.path.basename(r.uri) for r in refs] == ["img0.tif", "img1.tif", "img2.tif", "z.tif"]


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "could not be read"),
        ("[1, 2]", "not an object"),
        (json.dumps({"type": "Feature", "id": "q", "assets": {"thumb": {"href": "t.png", "roles": ["thumbnail"]}}}),
         "no asset named or with role"),
        (json.dumps({"type": "Feature", "id": "q", "assets": {}}), "no assets"),
        (json.dumps({"type": "Polygon"}), "not a STAC"),
    ],
)
def test_malformed_stac_is_a_problem(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    refs, problems = discover([str(path)])
    assert refs == []
    assert problems[0][0] == str(path) and words in problems[0][1]


def test_glob_and_single_inputs(tree):
    refs, problems = discover([str(tree / "**" / "*.[tT]*"), "s3://Bucket/k/x.tif", str(tree / "d.pgw")])
    names = sorted(os.path.basename(r.uri) for r in refs)
    assert names == ["a.tif", "b.TIFF", "d.pgw", "x.tif"]  # an explicitly named file is kept
    assert problems == []


def test_glob_without_matches_and_missing_input(tmp_path):
    refs, problems = discover([str(tmp_path / "*.tif"), str(tmp_path / "nope.tif")])
    assert refs == [] and [m for _, m in problems] == ["glob matched no raster files", "input not found"]


def test_merge_keeps_hints_from_any_listing(tmp_path, stac_item, utm_tif):
    refs, _ = discover([str(tmp_path), stac_item])
    [ref] = [r for r in refs if r.uri == os.path.realpath(utm_tif)]
    assert ref.sensor == "sentinel-2"


@pytest.mark.parametrize(
    "uri, path",
    [
        ("s3://b/k/x.tif", "/vsis3/b/k/x.tif"),
        ("https://h.org/a/x.tif?sig=1", "/vsicurl/https://h.org/a/x.tif?sig=1"),
        ("http://h.org/x.tif", "/vsicurl/http://h.org/x.tif"),
        ("gs://b/x.jp2", "/vsigs/b/x.jp2"),
        ("/vsis3/b/k.tif", "/vsis3/b/k.tif"),
        ("/data/x.tif", "/data/x.tif"),
        ("relative/x.tif", "relative/x.tif"),
        ("file:///data/my%20x.tif", "/data/my x.tif"),
    ],
)
def test_to_gdal_path(uri, path):
    assert to_gdal_path(uri) == path
    assert to_gdal_path(to_gdal_path(uri)) == path


def test_uri_helpers():
    with pytest.raises(ValueError, match="unsupported URI scheme"):
        to_gdal_path("ftpx://h/x.tif")
    assert is_remote("s3://b/k") and is_remote("/vsicurl/https://h/x") and not is_remote("/d/x.tif")
    assert normalize_uri("HTTPS://Example.COM/A/b.tif") == "https://example.com/A/b.tif"
