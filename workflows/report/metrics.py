"""Balance figures over grid cells for the report: before/after summary, ranks, Lorenz curves.

The measures themselves (normalized entropy over the occupied cells, Gini, cells covered) are
``pipeline.balance.balance_figures``, the same numbers the balance stage reports; this module
only reshapes them for the card and adds the curves the figures draw.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np

from pipeline.balance import balance_figures


def cell_counts(cells: Iterable[str | None]) -> np.ndarray:
    """Tiles per cell (nulls ignored), sorted ascending."""
    counts = Counter(c for c in cells if c is not None)
    return np.sort(np.fromiter(counts.values(), dtype=np.int64, count=len(counts)))


def lorenz(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve points (share of cells, share of tiles), sparsest cells first, from (0, 0)."""
    counts = np.sort(np.asarray(counts, dtype=np.float64))
    counts = counts[counts > 0]
    x = np.linspace(0.0, 1.0, counts.size + 1)
    y = np.concatenate([[0.0], np.cumsum(counts) / max(counts.sum(), 1.0)])
    return x, y


def balance_summary(cells_before: Iterable[str | None], cells_after: Iterable[str | None]) -> dict:
    """{"before"|"after": {tiles, cells_covered, normalized_entropy, gini}}; NaN measures when empty."""
    before = [c for c in cells_before if c is not None]
    after = [c for c in cells_after if c is not None]
    flat = balance_figures(before, after)
    out = {}
    for name in ("before", "after"):
        empty = flat[f"cells_{name}"] == 0
        out[name] = {
            "tiles": int(flat[f"tiles_{name}"]),
            "cells_covered": int(flat[f"cells_{name}"]),
            "normalized_entropy": math.nan if empty else float(flat[f"entropy_{name}"]),
            "gini": math.nan if empty else float(flat[f"gini_{name}"]),
        }
    return out
