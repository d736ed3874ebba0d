"""``ringmo stats``: counts per status, per sensor and per cell decile, with the accounting check."""

from __future__ import annotations

from collections import Counter

import numpy as np

from catalogs.layout import CATALOG_FILES
from catalogs.manifest import read_manifest
from catalogs.store import Store


def corpus_stats(corpus: str) -> dict:
    """Figures about a built corpus, read from its catalog files only (no pixels)."""
    store, columns = Store(corpus), ["status", "sensor", "cell", "split"]
    kept = store.read_parquet(CATALOG_FILES["tiles"], columns=columns)
    rejected = store.read_parquet(CATALOG_FILES["rejected"], columns=columns)
    scenes = store.read_parquet(CATALOG_FILES["scenes"], columns=["status"])
    status = Counter(kept.column("status").to_pylist()) + Counter(rejected.column("status").to_pylist())
    cells = Counter(c for c in kept.column("cell").to_pylist() if c)
    per_cell = np.array(sorted(cells.values()), dtype=np.int64)
    deciles = np.percentile(per_cell, np.arange(0, 101, 10)).round(1).tolist() if len(per_cell) else []
    manifest = read_manifest(corpus)
    candidates = kept.num_rows + rejected.num_rows
    return {
        "candidates": candidates,
        "kept": kept.num_rows,
        "by_status": dict(sorted(status.items())),
        "accounting_ok": candidates == sum(status.values()) and status.get("kept", 0) == kept.num_rows,
        "by_sensor": dict(sorted(Counter(kept.column("sensor").to_pylist()).items())),
        "by_split": dict(sorted(Counter(kept.column("split").to_pylist()).items())),
        "cells": len(cells),
        "tiles_per_cell_deciles": deciles,
        "scenes": dict(sorted(Counter(scenes.column("status").to_pylist()).items())),
        "shards": len(manifest.get("shards", [])),
    }


def format_stats(stats: dict) -> str:
    lines = [f"candidates: {stats['candidates']} = kept {stats['kept']} + rejected "
             f"{stats['candidates'] - stats['kept']}  ({'ok' if stats['accounting_ok'] else 'MISMATCH'})"]
    for title, key in (("status", "by_status"), ("sensor (kept)", "by_sensor"),
                       ("split (kept)", "by_split"), ("scenes", "scenes")):
        lines.append(f"{title}:")
        lines += [f"  {name}: {count}" for name, count in stats[key].items()]
    lines.append(f"cells covered: {stats['cells']}")
    lines.append("tiles per cell, deciles 0..100%: " + ", ".join(f"{d:g}" for d in stats["tiles_per_cell_deciles"]))
    lines.append(f"shards: {stats['shards']}")
    return "\n".join(lines)
