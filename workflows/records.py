"""Stage records on disk: small JSON files that mark a unit of work done and carry its result.

Every record is written to a temp name and renamed, so a record that exists is complete; a
rerun treats the presence of a record as "this unit is finished" and skips it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

from pipeline.scene import SceneInfo


def write_json_atomic(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_json(path: Path):
    return json.loads(path.read_text())


def input_key(uri: str) -> str:
    """File-name-safe key of an input URI, for its ingest record."""
    return hashlib.blake2b(uri.encode(), digest_size=10).hexdigest()


def scene_to_dict(scene: SceneInfo) -> dict:
    data = dataclasses.asdict(scene)
    data["footprint_wkb"] = scene.footprint_wkb.hex() if scene.footprint_wkb else None
    data["acquired"] = scene.acquired.isoformat() if scene.acquired else None
    return data


def scene_from_dict(data: dict) -> SceneInfo:
    data = dict(data)
    data["footprint_wkb"] = bytes.fromhex(data["footprint_wkb"]) if data["footprint_wkb"] else None
    data["acquired"] = datetime.fromisoformat(data["acquired"]) if data["acquired"] else None
    for name in ("dtypes", "transform", "block_shape"):
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    return SceneInfo(**data)
