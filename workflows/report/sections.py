"""What the corpus card says: its sections as blocks, from catalog figures and PNG paths.

Only facts read from the catalog and manifest appear here (no clock time, no host), so the
card is a function of the corpus.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from catalogs.schema import BALANCED_OUT, DUPLICATE, KEPT, REASONS
from workflows.report.card import Block, Figure, Heading, Para, Table
from workflows.report.data import CorpusData


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def summary(data: CorpusData, scenes: pd.DataFrame) -> list[Block]:
    total, kept = len(data.rows), len(data.after)
    read = int((scenes["status"] == "ok").sum()) if len(scenes) else 0
    shards = data.manifest.get("shards", [])
    size_mb = sum(s.get("bytes", 0) for s in shards) / 1e6
    labels = data.manifest.get("classes")
    text = (f"**{kept}** tiles kept of **{total}** candidates ({_pct(kept, total)}) from **{read}** scenes "
            f"({len(scenes) - read} inputs rejected), packed into **{len(shards)}** shard(s), {size_mb:.1f} MB.")
    blocks = [Heading(f"Corpus card: `{data.name}`", 1), Para(text)]
    if labels:
        blocks.append(Para(f"Labeled corpus: {len(labels)} classes ({', '.join(labels)})."))
    return blocks


def status_section(data: CorpusData, figure: Path) -> list[Block]:
    counts = Counter(data.rows["status"].fillna("unknown"))
    order = [KEPT] + [r for r in REASONS if r in counts] + sorted(set(counts) - {KEPT, *REASONS})
    total = len(data.rows)
    rows = tuple((s, counts.get(s, 0), _pct(counts.get(s, 0), total)) for s in order)
    return [Heading("Where every candidate went"),
            Para("Each candidate tile has exactly one status: `kept` or the reason it was rejected."),
            Table(("status", "tiles", "share"), rows + (("total", total, "100.0 %"),)),
            Figure(figure, "Candidates by status.")]


def balance_section(data: CorpusData, figures: dict, density: Path, chart: Path) -> list[Block]:
    b, a = figures["before"], figures["after"]
    rows = (("tiles", b["tiles"], a["tiles"]), ("cells covered", b["cells_covered"], a["cells_covered"]),
            ("normalized entropy (1 = even)", _fmt(b["normalized_entropy"]), _fmt(a["normalized_entropy"])),
            ("Gini over cells (0 = even)", _fmt(b["gini"]), _fmt(a["gini"])))
    config = data.config
    text = ("Before balancing = duplicate-free candidates that passed quality (`kept` + `balanced_out`); "
            "after = `kept`. Cells are H3 cells at resolution "
            f"{config.get('h3_resolution', '?')} (non-georeferenced tiles: one cell per source), "
            f"temperature alpha = {config.get('alpha', '?')}.")
    blocks = [Heading("Geography and balance"), Para(text),
              Table(("measure", "before", "after"), rows),
              Figure(density, "Tiles per H3 cell before (top) and after (bottom) balancing: world overview "
                              "and one zoomed panel per region (shared colour scale).")]
    if not (data.rows["status"] == BALANCED_OUT).any():
        blocks.append(Para("No tile was removed by balancing: before and after are the same selection."))
    blocks.append(Figure(chart, "Balance over cells: normalized entropy and Gini, tiles per cell ranked, "
                                "Lorenz curves."))
    return blocks


def _count_table(column: str, title: str, data: CorpusData) -> Table:
    before = Counter(data.before[column].fillna("unknown").astype(str))
    after = Counter(data.after[column].fillna("unknown").astype(str))
    names = sorted(set(before) | set(after), key=lambda n: (-after[n], -before[n], n))
    return Table((title, "before balancing", "kept"), tuple((n, before[n], after[n]) for n in names))


def distribution_section(data: CorpusData, figure: Path) -> list[Block]:
    return [Heading("Sensors, resolution, dates and splits"),
            Figure(figure, "Sensor, ground sample distance and acquisition year, before vs after balancing."),
            _count_table("sensor", "sensor", data), _count_table("split", "split", data)]


def duplicate_section(data: CorpusData, figure: Path | None, missing: int) -> list[Block]:
    dups = data.rows[data.rows["status"] == DUPLICATE]
    blocks = [Heading("Duplicate clusters")]
    if dups.empty:
        return blocks + [Para("No duplicates found.")]
    clusters = dups["duplicate_of"].nunique()
    blocks.append(Para(f"{len(dups)} tiles were dropped as exact or near duplicates of {clusters} representatives "
                       f"(largest cluster: {dups['duplicate_of'].value_counts().max()} duplicates)."))
    if figure is not None:
        blocks.append(Figure(figure, "Largest duplicate clusters: the representative (green: kept, orange: "
                                     "balanced out later) and its closest duplicates (red)."))
    if missing:
        blocks.append(Para(f"{missing} duplicate thumbnail(s) could not be shown: rejected tiles live only in "
                           "staging, which was removed after packing."))
    return blocks


def inputs_section(scenes: pd.DataFrame) -> list[Block]:
    rejected = scenes[scenes["status"] != "ok"] if len(scenes) else scenes
    if rejected.empty:
        return []
    rows = tuple((Path(str(r.uri)).name, str(r.error or "")[:160]) for r in rejected.itertuples(index=False))
    return [Heading("Rejected inputs"), Table(("input", "why"), rows)]


def stats_section(data: CorpusData) -> list[Block]:
    stats = data.manifest.get("stats", {})
    if not stats:
        return []
    rows = tuple((key, ", ".join(s.get("bands", [])), s.get("dtype"), ", ".join(f"{v:.2f}" for v in s.get("mean", [])),
                  ", ".join(f"{v:.2f}" for v in s.get("std", [])), s.get("count")) for key, s in sorted(stats.items()))
    return [Heading("Normalization statistics (kept tiles, sample units)"),
            Table(("stats key", "bands", "dtype", "mean", "std", "tiles"), rows)]


def config_section(data: CorpusData) -> list[Block]:
    config = data.config
    if not config:
        return []
    rows = tuple((key, json.dumps(value) if isinstance(value, (list, dict, tuple)) else value)
                 for key, value in sorted(config.items()))
    versions = data.manifest.get("versions", {})
    blocks = [Heading("Build configuration"), Table(("setting", "value"), rows)]
    if versions:
        blocks.append(Para("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."))
    return blocks
