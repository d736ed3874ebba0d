import io
import json
import tarfile

import numpy as np
import pyarrow as pa
import pytest
import webdataset as wds

from pipeline.shards import PackConfig, plan_shards, write_shard


@pytest.fixture
def staged(tmp_path):
    """Forty staged samples of varied sizes in two staging blobs, as the tile stage leaves them."""
    rng = np.random.default_rng(0)
    rows, offsets = [], {"staging/a.tiles": 0, "staging/b.tiles": 0}
    (tmp_path / "staging").mkdir()
    blobs = {name: bytearray() for name in offsets}
    for i in range(40):
        name = "staging/a.tiles" if i % 2 else "staging/b.tiles"
        data = rng.integers(0, 256, int(rng.integers(100, 3000)), dtype=np.uint8).tobytes()
        rows.append({
            "tile_id": f"{i:016x}", "scene_id": name[-7], "uri": f"/raw/{name[-7]}.tif",
            "sensor": "aerial", "bands": "red,green,blue", "dtype": "uint8", "format": "png",
            "gsd_m": 0.5, "width": 64, "height": 64, "lon": 2.0 + i, "lat": 48.0, "acquired": None,
            "quality": 0.5, "split": "train" if i < 30 else "val", "label": None, "cell": "c",
            "src_crs": "EPSG:32631", "stage_file": name, "stage_offset": len(blobs[name]),
            "stage_size": len(data),
        })
        blobs[name] += data
    for name, blob in blobs.items():
        (tmp_path / name).write_bytes(bytes(blob))
    return tmp_path, rows


def test_plan_is_seeded_bounded_and_complete(staged):
    _, rows = staged
    table = pa.Table.from_pylist(rows)
    plans = plan_shards(table, PackConfig(max_count=7, seed=1))
    assert [len(p.tile_ids) for p in plans if p.shard.startswith("shards/train")] == [7, 7, 7, 7, 2]
    assert sorted(t for p in plans for t in p.tile_ids) == sorted(r["tile_id"] for r in rows)
    again = plan_shards(table.take(np.arange(39, -1, -1)), PackConfig(max_count=7, seed=1))
    assert again == plans
    assert plan_shards(table, PackConfig(max_count=7, seed=2)) != plans
    by_bytes = plan_shards(table, PackConfig(max_bytes=20_000, seed=1))
    assert all(len(p.tile_ids) >= 1 for p in by_bytes) and len(by_bytes) > 2


def test_written_shard_offsets_point_at_samples(staged):
    root, rows = staged
    by_id = {r["tile_id"]: r for r in rows}
    plan = plan_shards(pa.Table.from_pylist(rows), PackConfig(seed=0))[0]
    ordered = [by_id[t] for t in plan.tile_ids]
    placements, digest = write_shard(ordered, root, plan.shard)
    shard = (root / plan.shard).read_bytes()
    blobs = {n: (root / n).read_bytes() for n in ("staging/a.tiles", "staging/b.tiles")}
    for placement, row in zip(placements, ordered):
        fragment = shard[placement["offset"]: placement["offset"] + placement["size"]]
        with tarfile.open(fileobj=io.BytesIO(fragment + b"\0" * 1024)) as tar:
            members = tar.getmembers()
            assert [m.name for m in members] == [f"{row['tile_id']}.png", f"{row['tile_id']}.json"]
            image = tar.extractfile(members[0]).read()
            meta = json.loads(tar.extractfile(members[1]).read())
        staged_bytes = blobs[row["stage_file"]][row["stage_offset"]: row["stage_offset"] + row["stage_size"]]
        assert image == staged_bytes
        assert meta["tile_id"] == row["tile_id"] and meta["bands"] == ["red", "green", "blue"]
    import hashlib
    assert hashlib.sha256(shard).hexdigest() == digest
    keys = [s["__key__"] for s in wds.WebDataset(str(root / plan.shard), shardshuffle=False)]
    assert keys == list(plan.tile_ids)


def test_rewrite_is_byte_identical(staged):
    root, rows = staged
    write_shard(rows, root, "shards/train-000000.tar")
    first = (root / "shards/train-000000.tar").read_bytes()
    write_shard(rows, root, "shards/train-000000.tar")
    assert (root / "shards/train-000000.tar").read_bytes() == first
    assert not list((root / "shards").glob(".*tmp"))
