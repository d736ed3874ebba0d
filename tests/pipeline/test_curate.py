"""Curate: every candidate ends with exactly one status and candidates = kept + Σ rejected."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely

from catalogs.schema import BALANCED_OUT, BLANK, CANDIDATE_SCHEMA, CATALOG_SCHEMA, DUPLICATE, KEPT, NODATA, conform
from pipeline.balance import BalanceConfig
from pipeline.curate import CurateConfig, accounting, curate


@pytest.fixture
def candidates() -> pa.Table:
    """600 geo tiles in 6 places (skewed) with some copies, 60 aerial images, some rejects."""
    rng = np.random.default_rng(0)
    n_geo, n_aerial = 600, 60
    place = rng.choice(6, n_geo, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    x = place * 20.0 + rng.uniform(0, 0.5, n_geo)
    y = place * 5.0 + rng.uniform(0, 0.5, n_geo)
    phash = rng.integers(0, 2**63, n_geo + n_aerial).astype(np.uint64)
    copies = np.arange(0, n_geo, 10)
    x[copies + 1], y[copies + 1], phash[copies + 1] = x[copies] + 1e-4, y[copies], phash[copies] ^ np.uint64(3)
    n = n_geo + n_aerial
    geo = np.arange(n) < n_geo
    boxes = [shapely.to_wkb(shapely.box(x[i], y[i], x[i] + 0.005, y[i] + 0.005)) if geo[i] else None for i in range(n)]
    status = [NODATA if i % 37 == 0 else (BLANK if i % 41 == 0 else None) for i in range(n)]
    return conform(
        pa.table(
            {
                "tile_id": [f"{i:016x}" for i in range(n)],
                "scene_id": [f"geo{place[i]}" if geo[i] else f"aerial{i}" for i in range(n)],
                "uri": ["mem://x"] * n,
                "sensor": ["rgb"] * n,
                "gsd_m": pa.array([0.5] * n, type=pa.float32()),
                "georeferenced": geo.tolist(),
                "geometry": pa.array(boxes, type=pa.binary()),
                "lon": [x[i] + 0.0025 if geo[i] else None for i in range(n)],
                "lat": [y[i] + 0.0025 if geo[i] else None for i in range(n)],
                "quality": pa.array(rng.uniform(0.3, 1.0, n), type=pa.float32()),
                "pixel_hash": [f"p{i}" for i in range(n)],
                "phash": pa.array(phash),
                "status": status,
            }
        ),
        CANDIDATE_SCHEMA,
    )


def test_accounting_identity_after_curate(candidates):
    out = curate(candidates, CurateConfig(balance=BalanceConfig(h3_resolution=3, alpha=0.3, target_size=300)))
    assert out.schema.equals(CATALOG_SCHEMA)
    counts = accounting(out)
    assert counts["candidates"] == candidates.num_rows == counts["kept"] + counts["rejected"]
    assert counts["kept"] == 300
    assert counts[DUPLICATE] >= 50 and counts[BALANCED_OUT] > 0 and counts[NODATA] > 0 and counts[BLANK] > 0
    status, split = out.column("status").to_pylist(), out.column("split").to_pylist()
    assert all((s == KEPT) == (p is not None) for s, p in zip(status, split))
    assert all(c is not None for c in out.column("cell").to_pylist())
    assert out.column("shard").null_count == out.num_rows  # packing's job


def test_accounting_rejects_broken_tables(candidates):
    out = curate(candidates, CurateConfig())
    broken = out.set_column(out.column_names.index("status"), "status", pa.array([None] + out.column("status").to_pylist()[1:], pa.string()))
    with pytest.raises(ValueError, match="unknown status"):
        accounting(broken)
    dup = out.column("status").to_pylist().index(DUPLICATE)
    reps = out.column("duplicate_of").to_pylist()
    reps[dup] = "ffffffffffffffff"
    with pytest.raises(ValueError, match="not a representative"):
        accounting(out.set_column(out.column_names.index("duplicate_of"), "duplicate_of", pa.array(reps, pa.string())))
