"""Load what the report needs from a built corpus: catalog metadata only, no pixels.

One pandas frame holds every candidate (kept and rejected) with the few columns the figures
and tables use. Rows whose ``cell`` is missing (rejected before balancing,
or a corpus curated before cells were assigned) get the cell balancing would have used
(``pipeline.balance.assign_cells``), so "before/after" maps work on any corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from catalogs.layout import CATALOG_FILES
from catalogs.manifest import read_manifest
from catalogs.schema import BALANCED_OUT, KEPT
from catalogs.store import Store, read_parquet_file
from pipeline.balance import assign_cells

COLUMNS = ["tile_id", "scene_id", "sensor", "gsd_m", "acquired", "lon", "lat", "georeferenced",
           "cell", "split", "status", "detail", "duplicate_of", "phash", "quality", "format",
           "dtype", "band_count", "label", "stage_file", "stage_offset", "stage_size", "shard",
           "offset", "size", "bands", "band_mean", "band_std"]
DEFAULT_H3_RESOLUTION = 6


@dataclass(frozen=True)
class CorpusData:
    """Every candidate row of a corpus plus its manifest; ``before``/``after`` are views."""

    store: Store
    rows: pd.DataFrame
    manifest: dict

    @property
    def name(self) -> str:
        """The corpus's last path component, for titles."""
        return self.store.root.rstrip("/").rsplit("/", 1)[-1]

    @property
    def after(self) -> pd.DataFrame:
        """The kept tiles: the corpus as packed."""
        return self.rows[self.rows["status"] == KEPT]

    @property
    def before(self) -> pd.DataFrame:
        """Duplicate-free, quality-passing candidates as balancing saw them."""
        return self.rows[self.rows["status"].isin([KEPT, BALANCED_OUT])]

    @property
    def config(self) -> dict:
        return self.manifest.get("config", {})


def _columns(table: pa.Table) -> pd.DataFrame:
    """The report's columns of a catalog-like table (missing ones as None)."""
    frame = table.select([c for c in COLUMNS if c in table.column_names]).to_pandas()
    for missing in [c for c in COLUMNS if c not in table.column_names]:
        frame[missing] = None
    return frame


def _read(store: Store, rel: str) -> pd.DataFrame | None:
    if not store.exists(rel):
        return None
    with store.open(rel) as handle:
        present = set(pq.ParquetFile(handle).schema_arrow.names)
        return _columns(read_parquet_file(handle, columns=[c for c in COLUMNS if c in present]))


def fill_cells(rows: pd.DataFrame, resolution: int) -> pd.Series:
    """``rows.cell`` with gaps filled by the balance stage's own rule (H3, else source)."""
    cells = rows["cell"].astype(object).where(rows["cell"].notna(), None)
    missing = cells.isna().to_numpy()
    if missing.any():
        subset = rows.loc[missing, ["lon", "lat", "georeferenced", "scene_id"]]
        table = pa.table({"lon": pa.array(subset["lon"].astype(float), pa.float64()),
                          "lat": pa.array(subset["lat"].astype(float), pa.float64()),
                          "georeferenced": pa.array(subset["georeferenced"].astype(object), pa.bool_()),
                          "scene_id": pa.array(subset["scene_id"].astype(str), pa.string())})
        cells.loc[missing] = assign_cells(table, resolution).to_pylist()
    return cells


def load_corpus(corpus: str | Path) -> CorpusData:
    """Read ``catalog/tiles.parquet`` + ``rejected.parquet`` + the manifest of ``corpus``."""
    store = Store(corpus)
    frames = [_read(store, CATALOG_FILES[name]) for name in ("tiles", "rejected")]
    return _corpus_data(store, [f for f in frames if f is not None], read_manifest(store.root))


def curated_corpus(corpus: str | Path, curated: pa.Table) -> CorpusData:
    """The same data from a build's curated table (every candidate, shard columns not yet
    filled), so a build can draw the figures while its shards are being written."""
    store = Store(corpus)
    return _corpus_data(store, [_columns(curated)], read_manifest(store.root))


def _corpus_data(store: Store, frames: list[pd.DataFrame], manifest: dict) -> CorpusData:
    """Rows in tile-id order: the catalog's files and a curated table give the same frame."""
    frames = [f for f in frames if not f.empty]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    rows = rows.sort_values("tile_id", kind="stable", ignore_index=True)
    resolution = int(manifest.get("config", {}).get("h3_resolution") or DEFAULT_H3_RESOLUTION)
    rows["cell"] = fill_cells(rows, resolution)
    rows["year"] = pd.to_datetime(rows["acquired"], utc=True, errors="coerce").dt.year
    return CorpusData(store=store, rows=rows, manifest=manifest)


def load_scenes(corpus: str | Path) -> pd.DataFrame:
    store, columns = Store(corpus), ["scene_id", "uri", "status", "error", "sensor"]
    if not store.exists(CATALOG_FILES["scenes"]):
        return pd.DataFrame(columns=columns)
    return store.read_parquet(CATALOG_FILES["scenes"], columns=columns).to_pandas()
