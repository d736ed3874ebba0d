"""``manifest.json``: the corpus's record of config, versions, inputs, stages, stats and shards.

The manifest is rewritten atomically (temp file + rename) after every stage, so a killed run
never leaves a half-written one, and a rerun can see which stages are done.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from catalogs.layout import MANIFEST, join, open_filesystem

MANIFEST_VERSION = 1


def manifest_path(corpus: str) -> str:
    return join(corpus, MANIFEST)


def read_manifest(corpus: str) -> dict:
    """The corpus manifest, or an empty dict when none has been written yet."""
    fs, path = open_filesystem(manifest_path(corpus))
    if not fs.exists(path):
        return {}
    with fs.open(path, "rb") as handle:
        return json.loads(handle.read())


def dumps(manifest: dict) -> bytes:
    """Canonical JSON: sorted keys, so equal manifests are equal bytes."""
    return (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_manifest(corpus: str, manifest: dict) -> None:
    """Write the manifest atomically (rename on local disks; single PUT on object stores)."""
    fs, path = open_filesystem(manifest_path(corpus))
    data = dumps({"manifest_version": MANIFEST_VERSION, **manifest})
    if fs.protocol in ("file", ("file", "local")) or "file" in fs.protocol:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    else:
        fs.pipe_file(path, data)
