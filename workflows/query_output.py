"""Render a query result as a table, GeoJSON, GeoParquet, a shard list or sample keys."""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import shapely

from catalogs.errors import UsageError
from catalogs.geoparquet import write_geoparquet
from catalogs.layout import join
from catalogs.query import sample_keys, shard_list
from catalogs.store import atomic_output

TABLE_COLUMNS = ("tile_id", "sensor", "gsd_m", "split", "lon", "lat", "acquired", "shard")
GEOJSON_PROPERTIES = ("tile_id", "scene_id", "sensor", "bands", "gsd_m", "width", "height", "acquired",
                      "split", "label", "quality", "shard", "offset", "size")


def _text_table(table: pa.Table) -> str:
    rows = table.select(list(TABLE_COLUMNS)).to_pylist()
    cells = [[_cell(row[c]) for c in TABLE_COLUMNS] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(TABLE_COLUMNS)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths))  # noqa: E731
    body = [line(TABLE_COLUMNS), *(line(r) for r in cells)]
    return "\n".join(body + [f"{table.num_rows} tiles"])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.5g}"
    if hasattr(value, "date"):
        return value.date().isoformat()
    return str(value)


def geojson(table: pa.Table) -> dict:
    features = []
    for row in table.select([*GEOJSON_PROPERTIES, "geometry"]).to_pylist():
        wkb = row.pop("geometry")
        geometry = shapely.geometry.mapping(shapely.from_wkb(wkb)) if wkb else None
        features.append({"type": "Feature", "geometry": geometry,
                         "properties": {k: _cell(v) if hasattr(v, "date") else v for k, v in row.items()}})
    return {"type": "FeatureCollection", "features": features}


def format_for(output: str | None) -> str:
    """The output format a file name asks for (``paris.geojson`` -> geojson), else ``table``."""
    suffix = (output or "").rsplit(".", 1)[-1].lower() if output and "." in output else ""
    return {"geojson": "geojson", "json": "geojson", "parquet": "parquet"}.get(suffix, "table")


def write_query_result(table: pa.Table, corpus: str, fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        if not output:
            raise UsageError("--format parquet", "needs --output FILE")
        write_geoparquet(table, output)  # a path or a URL
        print(f"{table.num_rows} tiles -> {output}", file=sys.stderr)
        return
    if fmt == "table":
        text = _text_table(table)
    elif fmt == "geojson":
        text = json.dumps(geojson(table))
    elif fmt == "shards":
        text = "\n".join(join(corpus, shard) for shard in shard_list(table))
    elif fmt == "keys":
        text = "\n".join(sample_keys(table))
    else:
        text = str(table.num_rows)
    if output:
        with atomic_output(output) as handle:
            handle.write((text + "\n").encode())
        print(f"{table.num_rows} tiles -> {output}", file=sys.stderr)
    else:
        print(text)
