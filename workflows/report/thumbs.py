"""Pixels for the duplicate-cluster thumbnails: find clusters, fetch sample bytes, make RGB.

Kept samples are read from staging when it still exists, else from their shard (the byte
range ``[offset, offset + size)`` is a tar fragment holding exactly that sample). Rejected
duplicates only ever lived in staging, so once staging is removed they cannot be shown and the
caller says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from catalogs.store import Store

import numpy as np
import pandas as pd

from catalogs.schema import DUPLICATE, KEPT
from pipeline.encode import decode
from workflows.staging import shard_member, staged_bytes


@dataclass(frozen=True)
class Thumb:
    tile_id: str
    role: str  # the representative's status (kept, balanced_out) or "duplicate"
    image: np.ndarray | None  # [H, W, 3] or [H, W] uint8; None when the bytes are gone
    bits: int | None = None  # pHash Hamming distance to the representative
    note: str = ""


@dataclass(frozen=True)
class Cluster:
    representative: Thumb
    duplicates: list[Thumb] = field(default_factory=list)
    total: int = 0  # duplicates in the cluster, shown or not


def pick_clusters(rows: pd.DataFrame, *, max_clusters: int = 4) -> list[tuple[str, list[str]]]:
    """(representative id, duplicate ids) of the largest clusters, ties by representative id."""
    dups = rows[(rows["status"] == DUPLICATE) & rows["duplicate_of"].notna()]
    if dups.empty:
        return []
    groups = dups.groupby("duplicate_of")["tile_id"].apply(lambda s: sorted(s))
    order = sorted(groups.index, key=lambda rep: (-len(groups[rep]), rep))
    return [(rep, groups[rep]) for rep in order[:max_clusters]]


def _staged_bytes(store: Store, row) -> bytes | None:
    if not isinstance(row.stage_file, str) or pd.isna(row.stage_offset):
        return None
    return staged_bytes(store, row.tile_id, row.stage_file, int(row.stage_offset), int(row.stage_size))


def _shard_bytes(store: Store, row) -> bytes | None:
    if not isinstance(row.shard, str) or pd.isna(row.offset) or not store.exists(row.shard):
        return None
    return shard_member(store, row.shard, row.offset, row.size, f"{row.tile_id}.{row.format}")


def sample_bytes(store: Store, row) -> bytes | None:
    """The encoded sample of a catalog row: staging first (cheapest), else its shard."""
    data = _staged_bytes(store, row)
    if data is None and row.status == KEPT:
        data = _shard_bytes(store, row)
    return data


Stretch = tuple[np.ndarray, np.ndarray]  # per-band (vmin, vmax) of the displayed bands


def corpus_stretch(rows: pd.DataFrame, *, k: float = 2.5) -> dict[tuple, Stretch]:
    """One fixed stretch per layout (sensor, bands, dtype): the corpus mean +- ``k`` pooled
    stds of the kept tiles' band statistics, so every thumbnail of a layout is shown on the
    same scale and a saturated or dark tile looks saturated or dark."""
    out: dict[tuple, Stretch] = {}
    if "band_mean" not in rows or "band_std" not in rows:
        return out
    kept = rows[(rows["status"] == KEPT) & rows["band_mean"].notna() & rows["band_std"].notna()]
    for key, group in kept.groupby(["sensor", "bands", "dtype"], dropna=False, sort=True):
        widths = group["band_mean"].map(len)
        group = group[widths == widths.mode().iloc[0]]
        m = np.stack(group["band_mean"].map(np.asarray).to_list()).astype(np.float64)  # [N, C]
        sd = np.stack(group["band_std"].map(np.asarray).to_list()).astype(np.float64)
        mean = m.mean(axis=0)
        std = np.sqrt(np.maximum((sd**2 + m**2).mean(axis=0) - mean**2, 0.0))
        out[key] = (mean - k * std, mean + k * np.maximum(std, 1e-12))
    return out


def _dtype_range(dtype) -> Stretch:
    """The fixed stretch when no corpus statistics exist: the dtype's full range (0..1 floats)."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.array([float(info.min)]), np.array([float(info.max)])
    return np.array([0.0]), np.array([1.0])


def to_display(array: np.ndarray, stretch: Stretch | None = None) -> np.ndarray:
    """An ``[H, W, C]`` sample of any dtype as uint8 for display: first 3 bands (or band 1).

    uint8 samples are shown as stored; anything else through a fixed ``stretch`` (the corpus
    stretch of its layout, :func:`corpus_stretch`, else the dtype's range), never a per-image
    auto-stretch: that made the almost-white SAR tiles of an earlier build look normal.
    """
    array = array[:, :, None] if array.ndim == 2 else array
    take = 3 if array.shape[2] >= 3 else 1
    bands = array[:, :, :take]
    if bands.dtype == np.uint8:
        return bands[:, :, 0] if take == 1 else bands
    lo, hi = stretch if stretch is not None else _dtype_range(bands.dtype)
    lo = np.broadcast_to(np.asarray(lo, np.float64)[:take], (take,))
    hi = np.broadcast_to(np.asarray(hi, np.float64)[:take], (take,))
    data = np.nan_to_num(bands.astype(np.float64), nan=0.0)
    scaled = (data - lo) / np.maximum(hi - lo, 1e-12)
    out = np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out[:, :, 0] if take == 1 else out


def _thumb(store: Store, row, role: str, bits: int | None, stretches: dict | None = None) -> Thumb:
    data = sample_bytes(store, row)
    if data is None:
        return Thumb(row.tile_id, role, None, bits, "bytes gone (staging removed)")
    key = (getattr(row, "sensor", None), getattr(row, "bands", None), getattr(row, "dtype", None))
    try:
        image = to_display(decode(data, row.format), (stretches or {}).get(key))
    except (ValueError, OSError) as error:  # a corrupt blob must not sink the whole report
        return Thumb(row.tile_id, role, None, bits, f"undecodable: {error}")
    return Thumb(row.tile_id, role, image, bits)


def _bits(a, b) -> int | None:
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return None
    return bin(int(a) ^ int(b)).count("1")


def load_clusters(store: Store, rows: pd.DataFrame, *, max_clusters: int = 4,
                  max_duplicates: int = 5) -> list[Cluster]:
    """Thumbnails of the largest duplicate clusters (representative first)."""
    by_id = rows.set_index("tile_id", drop=False)
    stretches = corpus_stretch(rows)
    clusters = []
    for rep_id, dup_ids in pick_clusters(rows, max_clusters=max_clusters):
        if rep_id not in by_id.index:
            continue
        rep = next(by_id.loc[[rep_id]].itertuples(index=False))
        dups = [next(by_id.loc[[d]].itertuples(index=False)) for d in dup_ids]
        dups.sort(key=lambda d: (_bits(rep.phash, d.phash) or 0, d.tile_id))
        shown = [_thumb(store, d, "duplicate", _bits(rep.phash, d.phash), stretches) for d in dups[:max_duplicates]]
        clusters.append(Cluster(_thumb(store, rep, rep.status, None, stretches), shown, total=len(dup_ids)))
    return clusters
