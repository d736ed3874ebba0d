"""Stage records: small JSON files that mark a unit of work done and carry its result.

Records are written through :class:`catalogs.store.Store` (atomically), so a record that exists
is complete; a rerun treats its presence as "this unit is finished" and skips it. This module
holds their keys and the (de)serialization of the scenes they carry.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from pipeline.scene import SceneInfo


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
    for name in ("dtypes", "transform", "block_shape", "band_names"):
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    return SceneInfo(**data)
