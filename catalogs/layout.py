"""Where things live inside a corpus (local path or fsspec URL), in one place."""

from __future__ import annotations

import fsspec

from catalogs.store import join

MANIFEST = "manifest.json"
CORPUS_DIRS = ("staging", "shards", "catalog", "report")  # everything a build writes besides MANIFEST
CATALOG_FILES = {
    "tiles": "catalog/tiles.parquet",
    "rejected": "catalog/rejected.parquet",
    "scenes": "catalog/scenes.parquet",
}


def tiles_path(corpus: str, which: str = "tiles") -> str:
    return join(corpus, CATALOG_FILES[which])


def open_filesystem(url: str):
    """(fsspec filesystem, path within it) for a local path or URL."""
    fs, path = fsspec.core.url_to_fs(str(url))
    return fs, path
