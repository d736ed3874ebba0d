"""A real-shaped per-band product through ``ringmo build`` and ``ringmo query``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from catalogs.store import Store
from workflows.cli import main
from tests.pipeline.products_data import band_pixels, write_landsat_product

REAL_LANDSAT = Path("/work/shared/realdata/products/landsat8_LC80200392015216LGN00")


def _scenes(corpus: Path):
    return pq.read_table(corpus / "catalog" / "scenes.parquet").to_pylist()


def test_landsat_product_builds_one_scene_with_bands_in_order(tmp_path, capsys):
    raw = write_landsat_product(tmp_path / "raw" / "product", size=96)
    config = tmp_path / "build.yaml"
    config.write_text("sensors:\n  - name: landsat8\n    out_dtype: native\n    format: npy\n"
                      "min_std: 0\nmin_entropy: 0\n")
    corpus = tmp_path / "corpus"
    assert main(["build", str(raw), str(corpus), "--config", str(config), "--tile-size", "48",
                 "--scheduler", "sync", "--quiet"]) == 0
    scenes = _scenes(corpus)
    assert len(scenes) == 1
    scene = scenes[0]
    assert (scene["sensor"], scene["platform"], scene["product"], scene["sensor_source"]) == \
        ("landsat8", "landsat-8", "L1T", "sidecar")
    assert scene["acquired"].date().isoformat() == "2015-08-04"
    assert (scene["bands"], scene["qa_kind"]) == ("B1,B2,B3,B4,B5,B6,B7", "landsat_bqa")
    tiles = pq.read_table(corpus / "catalog" / "tiles.parquet").to_pylist()
    assert len(tiles) == 4 and {t["bands"] for t in tiles} == {"B1,B2,B3,B4,B5,B6,B7"}
    tile = min(tiles, key=lambda t: (t["row_off"], t["col_off"]))
    member = Store(str(corpus)).read_range(tile["shard"], tile["offset"] + 512, 1 << 20)
    sample = np.load(io.BytesIO(member))  # the first tar member of the sample is its .npy
    assert sample.shape == (48, 48, 7)
    for k in range(7):  # channel k is band B{k+1}'s own pixels
        assert np.array_equal(sample[..., k], band_pixels(k + 1, 96, 96)[:48, :48])
    capsys.readouterr()
    assert main(["query", str(corpus), "--sensor", "landsat8", "--format", "count"]) == 0
    assert int(capsys.readouterr().out.strip()) == 4
    manifest = Store(str(corpus)).read_json("manifest.json")
    layout = manifest["stats"]["landsat8/B1,B2,B3,B4,B5,B6,B7/uint16"]
    assert layout["wavelengths_nm"] == [443, 482, 561, 655, 865, 1609, 2201]


@pytest.mark.slow
@pytest.mark.skipif(not REAL_LANDSAT.is_dir(), reason="real data not available")
def test_real_landsat_product_build_and_query(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    assert main(["build", str(REAL_LANDSAT), str(corpus), "--scheduler", "sync", "--quiet"]) == 0
    scenes = _scenes(corpus)
    assert [(s["sensor"], s["acquired"].date().isoformat(), s["bands"]) for s in scenes] == \
        [("landsat8", "2015-08-04", "B1,B2,B3,B4,B5,B6,B7")]
    tiles = pq.read_table(corpus / "catalog" / "tiles.parquet")
    assert tiles.num_rows > 0 and set(tiles.column("bands").to_pylist()) == {"B1,B2,B3,B4,B5,B6,B7"}
    capsys.readouterr()
    assert main(["query", str(corpus), "--sensor", "landsat8", "--format", "count"]) == 0
    assert int(capsys.readouterr().out.strip()) == tiles.num_rows


def test_products_are_queryable_and_their_corpora_byte_identical_wherever_written(tmp_path):
    import hashlib

    from catalogs.query import Query, read_catalog
    from workflows.build import build
    from workflows.build_config import BuildConfig

    write_landsat_product(tmp_path / "raw" / "l8", size=64)
    write_landsat_product(tmp_path / "raw" / "l9", size=64, scene_id="LC90200392022216LGN00",
                          spacecraft="LANDSAT_9", date="2022-08-04", shift=1)
    digests = []
    for name in ("a", "b"):
        corpus = tmp_path / name
        build(BuildConfig(inputs=(str(tmp_path / "raw"),), corpus=str(corpus), tile_size=32, scheduler="sync",
                          min_std=0, min_entropy=0), progress=False)
        files = sorted([*corpus.glob("shards/*.tar"), *corpus.glob("catalog/*.parquet")])
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
    assert digests[0] == digests[1] and len(digests[0]) >= 4  # the VRTs' place is not in the data
    every = read_catalog(str(corpus))
    assert set(every.column("sensor").to_pylist()) == {"landsat8", "landsat9"}
    nine = read_catalog(str(corpus), Query(platforms=("landsat-9",)))
    assert nine.num_rows > 0 and set(nine.column("sensor").to_pylist()) == {"landsat9"}
    assert read_catalog(str(corpus), Query(products=("L1T",))).num_rows == every.num_rows
