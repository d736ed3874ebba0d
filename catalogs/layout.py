"""Where things live inside a corpus (local path or fsspec URL), in one place."""

from __future__ import annotations

import fsspec

from catalogs.errors import NotACorpusError
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


def require_corpus(corpus: str) -> None:
    """Raise :class:`NotACorpusError` unless ``corpus`` holds a corpus (its manifest, catalog or
    shards): every command that reads a corpus calls this first, so a mistyped path is one clear
    error instead of a traceback, or worse, a new directory created at the wrong place."""
    try:
        fs, path = open_filesystem(corpus)
        found = any(fs.exists(f"{path.rstrip('/')}/{rel}") for rel in (MANIFEST, CATALOG_FILES["tiles"], "shards"))
    except (OSError, ValueError) as error:
        raise NotACorpusError(str(corpus), f"cannot be read ({error})") from None
    if not found:
        why = ("not a corpus: no such file or directory" if not fs.exists(path)
               else "not a corpus: no manifest.json, catalog/tiles.parquet or shards/ in it")
        raise NotACorpusError(str(corpus), why)
