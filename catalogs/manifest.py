"""``manifest.json``: the corpus's record of config, versions, inputs, stages, stats and shards.

The manifest is rewritten atomically (temp file + rename) after every stage, so a killed run
never leaves a half-written one, and a rerun can see which stages are done.
"""

from __future__ import annotations

import json

from catalogs.layout import MANIFEST
from catalogs.store import Store, atomic_output, join

MANIFEST_VERSION = 1


def manifest_path(corpus: str) -> str:
    return join(corpus, MANIFEST)


def read_manifest(corpus: str) -> dict:
    """The corpus manifest, or an empty dict when none has been written yet."""
    try:
        return json.loads(Store(corpus).read_bytes(MANIFEST))
    except FileNotFoundError:
        return {}


def dumps(manifest: dict) -> bytes:
    """Canonical JSON: sorted keys, so equal manifests are equal bytes."""
    return (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_manifest(corpus: str, manifest: dict) -> None:
    """Write the manifest atomically (rename on local disks; one upload on object stores)."""
    with atomic_output(manifest_path(corpus)) as handle:
        handle.write(dumps({"manifest_version": MANIFEST_VERSION, **manifest}))
