"""Last step of a build: join placements onto the curated table and write catalog + manifest."""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalogs.keys import scene_id_for_unreadable
from catalogs.geoparquet import write_geoparquet, write_parquet
from catalogs.layout import CATALOG_FILES
from catalogs.layouts import assumed_wavelengths, layout_key, layout_record, parse_layout_key
from catalogs.store import Store
from catalogs.manifest import read_manifest, write_manifest
from pipeline.leaks import cross_split_pairs
from catalogs.schema import CATALOG_SCHEMA, KEPT, SCENE_OK, SCENE_REJECTED, SCENE_SCHEMA, TOO_COARSE, conform
from workflows.config import config_dict
from workflows.layouts import band_wavelengths

_VERSIONED = ("ringmo", "numpy", "rasterio", "pyarrow", "shapely", "webdataset", "dask", "h3",
              "opencv-python-headless", "Pillow")


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import rasterio

    found["gdal"] = rasterio.__gdal_version__
    return found


def with_placements(curated: pa.Table, packed: list[dict]) -> pa.Table:
    """``curated`` with shard/offset/size/sha256 filled for the rows that were packed."""
    placed = {p["tile_id"]: p for record in packed for p in record["placements"]}
    ids = curated.column("tile_id").to_pylist()
    columns = {name: [placed.get(t, {}).get(name) for t in ids] for name in ("shard", "offset", "size", "sha256")}
    table = curated
    for name, values in columns.items():
        array = pa.array(values, CATALOG_SCHEMA.field(name).type)
        index = table.column_names.index(name) if name in table.column_names else -1
        table = table.set_column(index, name, array) if index >= 0 else table.append_column(name, array)
    return conform(table, CATALOG_SCHEMA)


def normalization_stats(kept: pa.Table) -> dict:
    """Normalization statistics per band layout (``catalogs.layouts.layout_key``), pooled from the
    kept tiles' band means and stds, with each layout's band wavelengths when known.

    Keyed by layout, not sensor: one sensor can ship several band sets (and an unknown sensor
    covers everything unidentified), and the trainer normalizes and embeds each layout apart.
    """
    columns = {name: kept.column(name).to_pylist() for name in ("sensor", "bands", "band_count", "dtype", "band_mean",
                                                            "band_std")}
    groups: dict = {}
    for i, mean in enumerate(columns["band_mean"]):
        if mean is not None:
            key = layout_key(columns["sensor"][i], columns["bands"][i], columns["dtype"][i], columns["band_count"][i])
            groups.setdefault(key, []).append(i)
    stats = {}
    for key, rows in sorted(groups.items()):
        sensor, bands, dtype = parse_layout_key(key)
        width = Counter(len(columns["band_mean"][i]) for i in rows).most_common(1)[0][0]
        rows = [i for i in rows if len(columns["band_mean"][i]) == width]
        m = np.array([columns["band_mean"][i] for i in rows], dtype=np.float64)
        s = np.array([columns["band_std"][i] for i in rows], dtype=np.float64)
        mean = m.mean(axis=0)
        std = np.sqrt(np.maximum((s**2 + m**2).mean(axis=0) - mean**2, 0.0))
        wavelengths, gsd = band_wavelengths(sensor, bands)
        stats[key] = layout_record(sensor, bands, dtype, mean, std, len(rows),
                                   assumed_wavelengths(bands, dtype, wavelengths), gsd)
    return stats


def _scene_status(uri: str, error: str | None) -> str:
    """ok, too_coarse (the tile task's error reads "URI: too_coarse: ..."), or rejected."""
    if not error:
        return SCENE_OK
    return TOO_COARSE if error.startswith(f"{uri}: {TOO_COARSE}:") else SCENE_REJECTED


def scenes_table(inputs, failures: dict[str, str], candidates_per_scene: Counter) -> pa.Table:
    rows = []
    for scene in inputs.scenes:
        error = failures.get(scene.scene_id)
        rows.append({
            "scene_id": scene.scene_id, "uri": scene.uri,
            "status": _scene_status(scene.uri, error), "error": error,
            "driver": scene.driver, "width": scene.width, "height": scene.height,
            "band_count": scene.band_count, "dtypes": ",".join(scene.dtypes), "nodata": scene.nodata,
            "src_crs": scene.crs, "georeferenced": scene.georeferenced, "gsd_m": scene.gsd_m,
            "sensor": scene.sensor, "platform": scene.platform, "product": scene.product,
            "sensor_source": scene.sensor_source,
            "bands": ",".join(scene.band_names) if scene.band_names else None,
            "qa_uri": scene.qa_uri, "qa_kind": scene.qa_kind,
            "acquired": scene.acquired, "checksum": scene.checksum,
            "geometry": scene.footprint_wkb, "candidates": candidates_per_scene.get(scene.scene_id, 0),
        })
    for rejected in inputs.rejected:
        rows.append({"scene_id": scene_id_for_unreadable(rejected["uri"]), "uri": rejected["uri"],
                     "status": SCENE_REJECTED, "error": rejected["error"], "candidates": 0})
    rows.sort(key=lambda r: (r["uri"], r["scene_id"]))
    # With the schema: from_pylist alone takes its columns from row 0, which for a rejected
    # input lacks every metadata key, and would silently drop them for all rows.
    return pa.Table.from_pylist(rows, schema=SCENE_SCHEMA)


def dense_manifest(config, kept: pa.Table) -> dict:
    """``task``, ``classes``, ``ignore_index``, sample ``members`` and pixel counts per class."""
    from pipeline.dense import IGNORE, parse_members
    from workflows.dense_labels import manifest_classes, read_classes

    counts = kept.column("class_pixels").to_pylist()
    classes = manifest_classes(read_classes(config.classes, config.task, config.class_attribute), counts)
    total = np.zeros(len(classes), np.int64)
    for row in counts:
        if row:
            total[:min(len(row), len(classes))] += np.asarray(row[:len(classes)], np.int64)
    first = next((m for m in kept.column("members").to_pylist() if m), None)
    return {"task": config.task, "classes": classes, "ignore_index": IGNORE,
            "members": [name for name, _ in parse_members(first)],
            "class_pixels": {name: int(n) for name, n in zip(classes, total)}}


def assemble_catalog(corpus: Store, config, curated: pa.Table, packed: list[dict], inputs,
                     failures: dict[str, str]) -> dict:
    """Write catalog/{tiles,rejected,scenes}.parquet and the manifest; return the summary."""
    table = with_placements(curated, packed)
    is_kept = pc.equal(table.column("status"), KEPT)
    kept, rejected = table.filter(is_kept), table.filter(pc.invert(is_kept))
    write_geoparquet(kept, corpus.url(CATALOG_FILES["tiles"]))
    write_geoparquet(rejected, corpus.url(CATALOG_FILES["rejected"]))
    per_scene = Counter(table.column("scene_id").to_pylist())
    scenes = scenes_table(inputs, failures, per_scene)
    write_parquet(scenes, corpus.url(CATALOG_FILES["scenes"]))
    reasons = Counter(rejected.column("status").to_pylist())
    rejected_inputs = [{"uri": r["uri"], "error": r["error"]} for r in inputs.rejected]
    rejected_inputs += [{"uri": s.uri, "error": failures[s.scene_id].removeprefix(f"{s.uri}: ")}
                        for s in inputs.scenes if s.scene_id in failures]  # the uri is said once
    leaks = {"max_distance": config.dedup_distance, **cross_split_pairs(kept, config.dedup_distance)}
    summary = {
        "corpus": corpus.root,
        "scenes": {"read": len(inputs.scenes) - len(failures), "rejected": len(rejected_inputs)},
        "rejected_inputs": sorted(rejected_inputs, key=lambda r: r["uri"]),
        "tiles": {"candidates": table.num_rows, "kept": kept.num_rows, "rejected": dict(sorted(reasons.items()))},
        "shards": {"count": len(packed), "bytes": int(sum(r["bytes"] for r in packed))},
        "leaks": leaks,
        "catalog": corpus.url(CATALOG_FILES["tiles"]),
    }
    manifest = read_manifest(corpus.root)
    manifest.update({
        "config": config_dict(config),
        "versions": versions(),
        "inputs": [{"uri": s.uri, "scene_id": s.scene_id, "checksum": s.checksum} for s in inputs.scenes],
        "stages": {"ingest": "done", "tile": "done", "curate": "done", "pack": "done"},
        "stats": normalization_stats(kept),
        "shards": [{"path": r["shard"], "sha256": r["sha256"], "bytes": r["bytes"],
                    "samples": len(r["placements"])} for r in packed],
        "summary": {k: v for k, v in summary.items() if k not in ("corpus", "catalog", "leaks")},
        "leaks": leaks,
    })
    labels = {label for label in kept.column("label").to_pylist() if label is not None}
    for joined in kept.column("classes").to_pylist() if "classes" in kept.column_names else []:
        labels.update(c for c in (joined or "").split(",") if c)  # detection: object classes
    if labels:
        manifest["classes"] = sorted(labels)
    if config.task in ("segmentation", "change"):  # dense tasks: their own classes and members
        manifest.update(dense_manifest(config, kept))
    elif config.task:
        manifest["task"] = config.task
    write_manifest(corpus.root, manifest)
    return summary
