"""Library thread pools inside a build task: one thread, because the build's parallelism is one
task per core (a Dask worker process each, or the build's own process).

OpenCV parallelizes ``cvtColor`` and ``resize`` over every core by default, and its idle pool
threads spin on ``sched_yield`` between calls. In a task that converts and resizes every tile
(perceptual hashes, quality measures) on 2 cores, measured on the 2048-tile RGB build benchmark
in one process: 2.3-2.7 system CPU-seconds of spinning (system time 4.8 -> 2.1 s), on the core
the report's helper or the other worker needs. GDAL's own decode threads are off for the same
reason (:data:`pipeline.gdal_env.BASE_OPTIONS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block with OpenCV on one thread, then give the caller back its own setting."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)
