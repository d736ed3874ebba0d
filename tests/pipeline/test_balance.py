"""Balance: temperature ordering, target size, determinism, caps, quotas, non-geo by source."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from catalogs.schema import BALANCED_OUT, CANDIDATE_SCHEMA, DUPLICATE, KEPT, conform
from pipeline.balance import BalanceConfig, assign_cells, balance, balance_figures


def skewed(n: int = 3000, seed: int = 0, georeferenced: bool = True) -> pa.Table:
    """Tiles around 30 places with Zipf-like popularity (place k has ~1/(k+1) of the tiles)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 31)
    place = rng.choice(30, n, p=weights / weights.sum())
    centers = np.stack([np.linspace(-150, 150, 30), np.linspace(-60, 60, 30)], axis=1)
    lonlat = centers[place] + rng.normal(0, 0.01, (n, 2))
    return conform(
        pa.table(
            {
                "tile_id": [f"{i:016x}" for i in range(n)],
                "scene_id": [f"s{p}-{i % 4}" for i, p in enumerate(place)],
                "uri": ["mem://x"] * n,
                "sensor": np.where(np.arange(n) % 3 == 0, "s2", "naip").tolist(),
                "gsd_m": pa.array(np.where(np.arange(n) % 3 == 0, 10.0, 0.6), type=pa.float32()),
                "georeferenced": [georeferenced] * n,
                "lon": lonlat[:, 0] if georeferenced else [None] * n,
                "lat": lonlat[:, 1] if georeferenced else [None] * n,
                "quality": pa.array(rng.uniform(0.2, 1.0, n), type=pa.float32()),
                "status": [DUPLICATE if i % 50 == 0 else KEPT for i in range(n)],
            }
        ),
        CANDIDATE_SCHEMA,
    )


def kept(out: pa.Table) -> np.ndarray:
    return np.asarray(out.column("status").to_pylist()) == KEPT


def kept_cells(out: pa.Table) -> list[str]:
    return [c for c, k in zip(out.column("cell").to_pylist(), kept(out)) if k]


def test_alpha_orders_entropy_and_target_size_is_met():
    table = skewed()
    before = [c for c, s in zip(assign_cells(table, 4).to_pylist(), table.column("status").to_pylist()) if s == KEPT]
    entropies = []
    for alpha in (1.0, 0.5, 0.0):
        out = balance(table, BalanceConfig(h3_resolution=4, alpha=alpha, target_size=600, seed=1))
        assert kept(out).sum() == 600
        entropies.append(balance_figures(before, kept_cells(out))["entropy_after"])
    natural = balance_figures(before, before)["entropy_before"]
    assert abs(entropies[0] - natural) < 0.02  # alpha = 1 keeps the natural distribution
    assert entropies[0] < entropies[1] < entropies[2]
    assert entropies[2] > 0.99  # alpha = 0: uniform over the 30 places (all have >= 20 tiles)


def test_small_cells_give_their_share_to_others():
    out = balance(skewed(), BalanceConfig(h3_resolution=4, alpha=0.0, target_size=1500, seed=0))
    assert kept(out).sum() == 1500  # the sparse places ran dry; the rest was redistributed
    counts = np.unique(kept_cells(out), return_counts=True)[1]
    assert counts.max() - np.sort(counts)[-5] <= 1  # the unsaturated cells share the rest evenly


def test_deterministic_under_seed_and_order_free():
    table = skewed()
    config = BalanceConfig(h3_resolution=4, alpha=0.3, target_size=500, seed=7)
    first = balance(table, config)
    shuffled = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    second = balance(shuffled, config)
    ids = lambda t: sorted(i for i, k in zip(t.column("tile_id").to_pylist(), kept(t)) if k)  # noqa: E731
    assert ids(first) == ids(second)
    assert ids(balance(table, BalanceConfig(h3_resolution=4, alpha=0.3, target_size=500, seed=8))) != ids(first)


def test_only_kept_rows_are_balanced_and_reasons_are_named():
    table = skewed()
    out = balance(table, BalanceConfig(h3_resolution=4, alpha=0.5, target_size=300))
    before, after = table.column("status").to_pylist(), out.column("status").to_pylist()
    assert all(a == DUPLICATE for b, a in zip(before, after) if b == DUPLICATE)
    assert set(after) == {KEPT, DUPLICATE, BALANCED_OUT}
    assert {d for d, s in zip(out.column("detail").to_pylist(), after) if s == BALANCED_OUT} == {"cell cap"}


def test_max_per_scene():
    out = balance(skewed(), BalanceConfig(max_per_scene=5))
    scenes = [s for s, k in zip(out.column("scene_id").to_pylist(), kept(out)) if k]
    assert max(np.unique(scenes, return_counts=True)[1]) == 5


def test_sensor_and_gsd_quotas():
    out = balance(skewed(), BalanceConfig(alpha=1.0, target_size=900, sensor_quotas={"s2": 0.1}))
    sensors = [s for s, k in zip(out.column("sensor").to_pylist(), kept(out)) if k]
    assert sensors.count("s2") == 90 and len(sensors) == 900
    out = balance(skewed(), BalanceConfig(alpha=1.0, target_size=900, gsd_quotas={1.0: 0.5, 20.0: 1.0}))
    gsd = np.asarray([g for g, k in zip(out.column("gsd_m").to_pylist(), kept(out)) if k])
    assert (gsd <= 1.0).sum() == 450 and len(gsd) == 900


def test_non_georeferenced_tiles_are_balanced_by_source():
    table = skewed(georeferenced=False)
    cells = assign_cells(table, 5).to_pylist()
    assert all(c == f"src:{s}" for c, s in zip(cells, table.column("scene_id").to_pylist()))
    out = balance(table, BalanceConfig(alpha=0.0, target_size=240))
    available = dict(zip(*np.unique(kept_cells(out), return_counts=True)))
    supply = dict(zip(*np.unique([c for c, s in zip(cells, table.column("status").to_pylist()) if s == KEPT],
                                 return_counts=True)))
    level = min(k for c, k in available.items() if supply[c] > k)  # the water level
    assert sum(available.values()) == 240
    assert all(available.get(c, 0) in (min(n, level), min(n, level + 1)) for c, n in supply.items())


def test_figures():
    fig = balance_figures(["a"] * 9 + ["b"], ["a", "b"])
    assert fig["entropy_after"] == pytest.approx(1.0) and fig["gini_after"] == pytest.approx(0.0)
    assert fig["entropy_before"] < 0.5 and fig["gini_before"] > 0.3
    assert fig["cells_before"] == 2 and fig["tiles_before"] == 10
