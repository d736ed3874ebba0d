"""Where things live inside a corpus, in one place: every path below is relative to its root.

```
CORPUS/
  manifest.json                     config, versions, inputs, stage states, shard sha256
  staging/                          per-build working state (removable after pack)
    discovery.json                  what discovery could not use
    inputs/{input key}.json         one ingest record per input
    {scene_id}.tiles                the scene's encoded candidate samples, back to back
    {scene_id}.parquet              the scene's candidate rows (exists = scene tiled)
    {scene_id}.error.json           why tiling the scene failed
    curated.parquet                 every candidate with its status
    packed/{shard stem}.json        one record per written shard: placements + sha256
    {scene_id}.rest(.json)          after compaction: the set-aside samples' bytes (+ index)
  shards/{split}-{n:06d}.tar        WebDataset shards (format: catalogs.tarformat)
  catalog/{tiles,rejected,scenes}.parquet
  report/                           the corpus card (README.md, index.html, figures/)
```

A corpus root is a local path or an fsspec URL; :class:`catalogs.store.Store` joins these
names onto it. Temp files of interrupted writes are hidden names ending in ``.tmp``
(:func:`catalogs.store.atomic_output`), listed by :data:`TEMP_PATTERNS`.
"""

from __future__ import annotations

import fsspec

from catalogs.errors import NotACorpusError
from catalogs.store import join

MANIFEST = "manifest.json"
CATALOG = "catalog"
CATALOG_FILES = {
    "tiles": f"{CATALOG}/tiles.parquet",
    "rejected": f"{CATALOG}/rejected.parquet",
    "scenes": f"{CATALOG}/scenes.parquet",
}

SHARDS = "shards"
SHARD_GLOB = f"{SHARDS}/*.tar"

STAGING = "staging"
DISCOVERY = f"{STAGING}/discovery.json"
INPUT_RECORDS = f"{STAGING}/inputs/*.json"
PACKED_RECORDS = f"{STAGING}/packed/*.json"
CURATED = f"{STAGING}/curated.parquet"

REPORT = "report"
CORPUS_DIRS = (STAGING, SHARDS, CATALOG, REPORT)  # everything a build writes besides MANIFEST
REPORT_FIGURES = f"{REPORT}/figures"
REPORT_INDEX = f"{REPORT}/index.html"

#: Where interrupted local writes can leave temp files (removed by the next build); workers
#: write only under staging/ and shards/.
WORKER_TEMP_PATTERNS = (f"{STAGING}/*.tmp", f"{STAGING}/.*.tmp", f"{STAGING}/*/.*.tmp", f"{SHARDS}/.*.tmp")
TEMP_PATTERNS = (*WORKER_TEMP_PATTERNS, f"{CATALOG}/.*.tmp", ".*.tmp")


def shard_name(split: str, index: int) -> str:
    """A shard's path: ``shards/{split}-{index:06d}.tar``."""
    return f"{SHARDS}/{split}-{index:06d}.tar"


def input_record(key: str) -> str:
    """The ingest record of one input (``key`` from ``workflows.records.input_key``)."""
    return f"{STAGING}/inputs/{key}.json"


def scene_blob(scene_id: str) -> str:
    """The staged encoded samples of one scene."""
    return f"{STAGING}/{scene_id}.tiles"


def scene_candidates(scene_id: str) -> str:
    """The staged candidate rows of one scene; written last, so it exists once the scene is tiled."""
    return f"{STAGING}/{scene_id}.parquet"


def scene_error(scene_id: str) -> str:
    """The record of a scene whose tiling failed."""
    return f"{STAGING}/{scene_id}.error.json"


def rest_paths(blob: str) -> tuple[str, str]:
    """(``.rest`` blob, its index) holding a compacted ``staging/{scene_id}.tiles`` blob's
    set-aside samples (``workflows.staging``)."""
    stem = blob.removesuffix(".tiles")
    return f"{stem}.rest", f"{stem}.rest.json"


def blob_candidates(blob: str) -> str:
    """The candidate rows staged with the blob ``staging/{scene_id}.tiles``."""
    return scene_candidates(within_staging(blob).removesuffix(".tiles"))


def within_staging(rel: str) -> str:
    """A staging path relative to the staging directory (``staging/x.tiles`` -> ``x.tiles``)."""
    return rel.removeprefix(f"{STAGING}/")


def packed_record(shard: str) -> str:
    """The staging record of a written shard (``shards/train-000000.tar`` -> ``staging/packed/train-000000.json``)."""
    return f"{STAGING}/packed/{shard.rsplit('/', 1)[-1].rsplit('.', 1)[0]}.json"


def tiles_path(corpus: str, which: str = "tiles") -> str:
    """The full path or URL of one catalog table of ``corpus``."""
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
        found = any(fs.exists(f"{path.rstrip('/')}/{rel}") for rel in (MANIFEST, CATALOG_FILES["tiles"], SHARDS))
    except (OSError, ValueError) as error:
        raise NotACorpusError(str(corpus), f"cannot be read ({error})") from None
    if not found:
        why = ("not a corpus: no such file or directory" if not fs.exists(path)
               else "not a corpus: no manifest.json, catalog/tiles.parquet or shards/ in it")
        raise NotACorpusError(str(corpus), why)
