"""Deterministic identifiers: scene ids and tile ids (shard names are paths: ``catalogs.layout``).

Ids depend only on what defines the data (source content, window, grid), never on run order,
worker count or wall-clock time, so two runs over the same inputs name everything the same.
"""

from __future__ import annotations

import hashlib

ID_HEX_CHARS = 16


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def scene_id_for(checksum: str) -> str:
    """The id of a scene, from its content checksum (same bytes at two paths = same scene)."""
    return _digest(f"scene|{checksum}")


def scene_id_for_unreadable(uri: str) -> str:
    """The id of an input whose bytes could not be checksummed (missing, unreadable)."""
    return _digest(f"uri|{uri}")


def tile_id_for(scene_id: str, col_off: int, row_off: int, width: int, height: int, grid: str) -> str:
    """The id of a tile: source scene + source window + the grid that produced it.

    ``grid`` describes tile size, stride and target GSD, so re-tiling with other settings
    gives other ids while re-running with the same settings gives the same ones.
    """
    return _digest(f"tile|{scene_id}|{col_off},{row_off},{width},{height}|{grid}")

