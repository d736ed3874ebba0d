"""The corpus card's figures: one function per figure, each writing a PNG and returning its path.

Matplotlib with the Agg backend (no display), no downloaded basemaps (map panels live in
``workflows.report.maps``). PNGs are written without a "Software" tag (Agg writes no
timestamp), so the same catalog gives the same bytes, and atomically (temp file + rename).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from catalogs.schema import BALANCED_OUT, KEPT, REASONS  # noqa: E402
from catalogs.store import atomic_output  # noqa: E402
from workflows.report.data import CorpusData  # noqa: E402
from workflows.report.metrics import cell_counts, lorenz  # noqa: E402
from workflows.report.maps import (  # noqa: E402
    CMAP, count_of, grown, h3_counts, overview_extent, region_panel, resolution_label, world_panel)
from workflows.report.regions import find_regions  # noqa: E402
from workflows.report.thumbs import Cluster, Thumb  # noqa: E402

BEFORE, AFTER = "#aab4be", "#2b6cb0"
STATUS_COLOURS = {KEPT: "#2f855a", "nodata": "#a0aec0", "blank": "#cbd5e0", "duplicate": "#c53030",
                  BALANCED_OUT: "#dd6b20", "unreadable": "#4a5568"}
DPI = 110
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.facecolor": "white"})


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically, without metadata that varies between runs."""
    try:
        with atomic_output(path) as handle:
            fig.savefig(handle, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------- density map before / after

def density_map(data: CorpusData, path: Path, *, max_regions: int = 5) -> Path:
    """Tiles per H3 cell before and after balancing: an overview plus one zoom per region."""
    before, after = h3_counts(data.before["cell"]), h3_counts(data.after["cell"])
    geo = data.before[data.before["lon"].notna() & data.before["lat"].notna()]
    regions = find_regions(geo["lon"].to_numpy(float), geo["lat"].to_numpy(float), max_regions=max_regions)
    regions = [grown(r, list(before)) for r in regions]
    norm = LogNorm(vmin=1, vmax=max(max(before.values(), default=1), 2))
    west, east, south, north = overview_extent(regions)
    overview_width = 4.8
    row_height = max(2.3, overview_width * (north - south) / (east - west)) + 0.6
    fig, axes = plt.subplots(2, 1 + len(regions), figsize=(overview_width + 2.3 * len(regions) + 1.0, 2 * row_height),
                             squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [overview_width / 2.3] + [1] * len(regions)})
    for row, (name, counts, frame) in enumerate((("before balancing", before, data.before),
                                                 ("after balancing", after, data.after))):
        world_panel(axes[row, 0], counts, regions, norm)
        axes[row, 0].set_title(f"{name}: {len(frame)} tiles, {len(counts)} H3 cells", loc="left",
                               fontweight="bold")
        for col, region in enumerate(regions, start=1):
            region_panel(axes[row, col], counts, region, norm, before if row else None)
    if not regions:
        axes[0, 0].text(0, 0, "no georeferenced tiles", ha="center", va="center", fontsize=11)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=CMAP)
    fig.colorbar(mappable, ax=axes, shrink=0.6, pad=0.01, label=f"tiles per H3 cell (res {resolution_label(before)})")
    nongeo = data.before[data.before["cell"].astype(str).str.startswith("src:")]
    if len(nongeo):
        fig.supxlabel(f"+ {len(nongeo)} tiles from {nongeo['cell'].nunique()} non-georeferenced sources before "
                      f"balancing, {int(data.after['cell'].astype(str).str.startswith('src:').sum())} after "
                      "(balanced per source, not mapped)", fontsize=8, color="#4a5568", x=0.01, ha="left")
    return save(fig, path)


# ---------------------------------------------------------------- histograms

def _grouped_bars(ax, labels: list[str], before: list[int], after: list[int], title: str) -> None:
    x = np.arange(len(labels))
    bars_b = ax.bar(x - 0.2, before, 0.4, color=BEFORE, label="before balancing")
    bars = ax.bar(x + 0.2, after, 0.4, color=AFTER, label="after (kept)")
    ax.bar_label(bars, fontsize=7, padding=1)
    ax.bar_label(bars_b, labels=["" if b == a else str(b) for b, a in zip(before, after)], fontsize=7,
                 padding=1, color="#4a5568")
    ax.set_xticks(x, labels, rotation=30 if max((len(s) for s in labels), default=0) > 6 else 0, ha="right"
                  if max((len(s) for s in labels), default=0) > 6 else "center")
    ax.set_title(title, loc="left")
    ax.set_ylabel("tiles")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # tile counts: no 0.5 ticks on small corpora
    if not labels:
        ax.text(0.5, 0.5, "no tiles", ha="center", va="center", transform=ax.transAxes)


def _categories(before: pd.Series, after: pd.Series, key=None) -> tuple[list, list[int], list[int]]:
    b, a = Counter(before.tolist()), Counter(after.tolist())
    names = sorted(set(b) | set(a), key=key or (lambda v: (-b[v], str(v))))
    return names, [b[n] for n in names], [a[n] for n in names]


def _gsd_class(values: pd.Series) -> pd.Series:
    """GSD to 2 significant digits: resampled scenes (0.5 vs 0.502 m) share one bar."""
    return values.astype(float).map(lambda v: float(f"{v:.2g}") if pd.notna(v) else np.nan)


def _gsd_label(value) -> str:
    return "unknown" if value is None or pd.isna(value) else f"{float(value):.3g} m"


def histograms(data: CorpusData, path: Path) -> Path:
    """Sensor, GSD and acquisition-year distributions, before vs after balancing."""
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6))
    names, b, a = _categories(data.before["sensor"].fillna("unknown"), data.after["sensor"].fillna("unknown"))
    _grouped_bars(axes[0], [str(n) for n in names], b, a, "sensor")
    gsd_b, gsd_a = _gsd_class(data.before["gsd_m"]), _gsd_class(data.after["gsd_m"])
    names, b, a = _categories(gsd_b.fillna(-1.0), gsd_a.fillna(-1.0), key=lambda v: (v < 0, v))
    _grouped_bars(axes[1], [_gsd_label(None if n < 0 else n) for n in names], b, a, "ground sample distance")
    year_b = data.before["year"].map(lambda y: "unknown" if pd.isna(y) else str(int(y)))
    year_a = data.after["year"].map(lambda y: "unknown" if pd.isna(y) else str(int(y)))
    names, b, a = _categories(year_b, year_a, key=lambda v: (v == "unknown", v))
    _grouped_bars(axes[2], names, b, a, "acquisition year")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save(fig, path)


# ---------------------------------------------------------------- balance and status

def balance_chart(data: CorpusData, figures: dict, path: Path) -> Path:
    """Normalized entropy and Gini before → after, tiles per cell ranked, and Lorenz curves."""
    before, after = cell_counts(data.before["cell"]), cell_counts(data.after["cell"])
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6), gridspec_kw={"width_ratios": [1, 1.3, 1]})
    ax = axes[0]
    x = np.arange(2)
    values_b = [figures["before"]["normalized_entropy"], figures["before"]["gini"]]
    values_a = [figures["after"]["normalized_entropy"], figures["after"]["gini"]]
    ax.bar_label(ax.bar(x - 0.2, np.nan_to_num(values_b), 0.4, color=BEFORE, label="before"), fmt="%.3f", fontsize=8)
    ax.bar_label(ax.bar(x + 0.2, np.nan_to_num(values_a), 0.4, color=AFTER, label="after"), fmt="%.3f", fontsize=8)
    ax.set_xticks(x, ["normalized entropy\n(1 = even)", "Gini\n(0 = even)"])
    ax.set_ylim(0, 1.15)
    ax.set_title(f"balance over cells · cells covered {figures['before']['cells_covered']} → "
                 f"{figures['after']['cells_covered']}", loc="left")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    ax = axes[1]
    for counts, colour, name in ((before, BEFORE, "before"), (after, AFTER, "after")):
        if counts.size:
            ax.step(np.arange(1, counts.size + 1), counts[::-1], where="mid", color=colour,
                    lw=4 if name == "before" else 1.8,
                    label=f"{name}: {counts.size} cells, max {counts.max()}")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("cell rank (densest first)")
    ax.set_ylabel("tiles in cell")
    ax.set_title("tiles per cell", loc="left")
    ax.legend(frameon=False, fontsize=8)
    ax = axes[2]
    ax.plot([0, 1], [0, 1], color="#cbd5e0", lw=1, ls="--", label="perfect balance")
    for counts, colour, name, key in ((before, BEFORE, "before", "before"), (after, AFTER, "after", "after")):
        if counts.size:
            lx, ly = lorenz(counts)
            ax.plot(lx, ly, color=colour, lw=4 if name == "before" else 1.8, label=f"{name} (Gini {figures[key]['gini']:.2f})")
    ax.set_xlabel("share of cells (sparsest first)")
    ax.set_ylabel("share of tiles")
    ax.set_aspect("equal")
    ax.set_title("Lorenz curve", loc="left")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def status_chart(data: CorpusData, path: Path) -> Path:
    """Where every candidate went: kept or a rejection reason (nothing disappears silently)."""
    counts = Counter(data.rows["status"].fillna("unknown"))
    order = [KEPT] + [r for r in REASONS if r in counts] + sorted(set(counts) - {KEPT, *REASONS})
    values = [counts.get(s, 0) for s in order]
    total = max(sum(values), 1)
    fig, ax = plt.subplots(figsize=(7.5, max(1.6, 0.6 + 0.38 * len(order))))
    y = np.arange(len(order))[::-1]
    ax.barh(y, values, color=[STATUS_COLOURS.get(s, "#718096") for s in order])
    for yi, v in zip(y, values):
        ax.text(v, yi, f"  {v} ({100 * v / total:.1f} %)", va="center", fontsize=8)
    ax.set_yticks(y, order)
    ax.set_xlim(0, max(values + [1]) * 1.3)
    ax.set_xlabel("candidate tiles")
    ax.set_title(f"{sum(values)} candidates → {counts.get(KEPT, 0)} kept", loc="left")
    fig.tight_layout()
    return save(fig, path)


# ---------------------------------------------------------------- duplicate clusters

def _bits_text(bits: int | None) -> str:
    return "" if bits is None else f" · {bits} bit{'' if bits == 1 else 's'}"


def _thumb_panel(ax, thumb: Thumb) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if thumb.role == "duplicate":
        colour, caption = STATUS_COLOURS["duplicate"], "duplicate" + _bits_text(thumb.bits)
    else:
        colour, caption = STATUS_COLOURS.get(thumb.role, "#718096"), f"{thumb.role} (representative)"
    if thumb.image is None:
        ax.set_facecolor("#edf2f7")
        ax.text(0.5, 0.5, thumb.note or "not available", ha="center", va="center", fontsize=7,
                wrap=True, transform=ax.transAxes, color="#4a5568")
    else:
        ax.imshow(thumb.image, cmap="gray" if thumb.image.ndim == 2 else None, interpolation="nearest")
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(colour)
        spine.set_linewidth(3)
    ax.set_title(f"{caption}\n{thumb.tile_id}", fontsize=7, color=colour)


def duplicate_grid(clusters: list[Cluster], path: Path) -> Path:
    """One row per duplicate cluster: the representative, then its closest duplicates."""
    ncols = 1 + max((len(c.duplicates) for c in clusters), default=0)
    fig, axes = plt.subplots(len(clusters), ncols, figsize=(1.75 * ncols + 0.6, 2.0 * len(clusters)),
                             squeeze=False)
    for row, cluster in enumerate(clusters):
        thumbs = [cluster.representative, *cluster.duplicates]
        for col in range(ncols):
            if col < len(thumbs):
                _thumb_panel(axes[row, col], thumbs[col])
            else:
                axes[row, col].axis("off")
        more = cluster.total - len(cluster.duplicates)
        axes[row, 0].set_ylabel(f"cluster {row + 1}\n{count_of(cluster.total, 'duplicate')}" +
                                (f"\n(+{more} not shown)" if more > 0 else ""), fontsize=8)
    fig.suptitle("largest duplicate clusters\n(pHash distance to the representative)", x=0.01, ha="left",
                 fontsize=10)  # two lines: the figure can be two thumbnails narrow
    fig.tight_layout()
    return save(fig, path)
