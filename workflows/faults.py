"""Deterministic fault injection: the build calls ``fault_point(name)`` at named moments, and
``RINGMO_FAULT`` picks one of them at which the process kills itself with SIGKILL.

``RINGMO_FAULT=<name>:<n>`` kills the process on the n-th call (1-based, counted per process)
of ``fault_point(name)``; ``RINGMO_FAULT=<name>:<n>:<marker>`` does so only while the file
``<marker>`` does not exist, creating it first, so a retried task (a restarted Dask worker)
passes the same point the second time. SIGKILL is the point: no ``finally`` blocks, no atexit,
no flush, exactly what a cluster's OOM killer or a pulled plug does.

The variable is read once at import; when it is unset ``fault_point`` is one global lookup and
a comparison, so the hooks can stay in production code.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "RINGMO_FAULT"

#: Every point the build calls, in build order (tests iterate over these).
POINTS = (
    "build.started",  # manifest written, nothing else yet
    "ingest.read",  # an input's metadata read, its record not yet written
    "ingest.recorded",  # an input's record written
    "tile.candidate",  # a candidate appended to a scene's temporary blob (mid-scene)
    "tile.blob_renamed",  # a scene's blob renamed, its parquet not yet
    "tile.done",  # a scene's parquet renamed (scene complete)
    "curate.written",  # staging/curated.parquet written
    "pack.sample",  # one sample appended to a shard's temporary file (mid-shard write)
    "pack.renamed",  # a shard renamed into place, its record not yet written
    "pack.recorded",  # a shard's record written
    "assemble.started",  # all shards written, catalog and manifest not yet
    "report.started",  # catalog and manifest written, report not yet
)


def _parse(spec: str | None) -> tuple[str, int, str | None] | None:
    if not spec:
        return None
    name, _, rest = spec.partition(":")
    count, _, marker = rest.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV}={spec!r}: unknown fault point {name!r}; known: {', '.join(POINTS)}")
    return name, int(count or 1), marker or None


_SPEC = _parse(os.environ.get(ENV))
_calls: Counter = Counter()


def fault_point(name: str) -> None:
    """Kill this process here if ``RINGMO_FAULT`` names this point and call number."""
    if _SPEC is None or _SPEC[0] != name:
        return
    _calls[name] += 1
    if _calls[name] != _SPEC[1]:
        return
    marker = _SPEC[2]
    if marker is not None:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


def hook(stage: str):
    """A ``checkpoint(moment)`` callback for pipeline functions (``pipeline`` may not import
    ``workflows``) that calls ``fault_point(f"{stage}.{moment}")``; ``None`` when unarmed."""
    if _SPEC is None:
        return None
    return lambda moment: fault_point(f"{stage}.{moment}")
