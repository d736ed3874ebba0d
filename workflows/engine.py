"""The Dask engine: where stage functions run, with retries, a progress bar and the dashboard link.

Stages hand plain functions and plain records to ``Engine.map``; nothing else in the project
knows about Dask. ``scheduler=None`` starts an embedded ``LocalCluster`` sized to the machine
(one single-threaded worker process per core: GDAL and the codecs release the GIL unevenly, and
processes scale ~2× on 2 cores where threads do not); an address uses an existing cluster;
``"sync"`` runs everything in this process (debugging, tiny inputs).

The embedded cluster's workers keep glibc's default allocator settings (:data:`WORKER_ENVIRON`):
Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` in the workers' environment, which also freezes
glibc's mmap threshold at 128 KiB, so every tile-sized buffer (a 512² RGB tile is 768 KiB, a
strip tens of MB) is mmap'ed, page-faulted in and unmapped again. Measured on the RGB build
benchmark (2048 tiles): 7 CPU-s more per build (system time 3.3 -> 10.1 s) and the tile stage
28 % slower, in one process as in each worker. Tile-stage memory is bounded by a strip either
way, so the trim buys nothing here.

Without a dashboard (``--quiet``) the workers also run without the instruments that only feed it
(:data:`UNWATCHED_CONFIG`): the statistical profiler samples the task thread's stack every
10 ms and the system monitor polls every 0.5 s, and the event-loop tick (a diagnostic) fires every
20 ms. Measured on a worker running an 8 CPU-s task: 3.6-9.1 % of extra process CPU with Dask's
defaults, 0.3-0.4 % without them (the memory monitor, which spills and pauses, keeps its pace).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

RETRIES = 2

#: ``distributed.nanny.pre-spawn-environ`` entries of the embedded cluster (None unsets Dask's
#: default; a variable the user exported is inherited by the workers all the same).
WORKER_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": None}

#: Dask settings of an embedded cluster that serves no dashboard (read when the scheduler and the
#: nannies are made; the nannies hand them to their workers).
UNWATCHED_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
}


def cluster_config(dashboard: bool) -> dict:
    """The ``dask.config`` overrides an embedded cluster is started with."""
    config = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()}
    return config if dashboard else {**config, **UNWATCHED_CONFIG}


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Engine:
    """Runs ``fn(item)`` for many items and yields ``(index, result)`` as they complete."""

    def __init__(self, client=None, *, progress: bool = True, busy_cores: int = 1):
        self.client = client
        self.progress = progress
        self.busy_cores = busy_cores  # this machine's cores its tasks keep busy (0: a remote cluster)

    @property
    def spare_cores(self) -> int:
        """This machine's cores the build's tasks leave idle (the build's own process aside)."""
        return max(default_workers() - self.busy_cores, 0)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], desc: str) -> Iterator[tuple[int, Any]]:
        items = list(items)
        bar = tqdm(total=len(items), desc=desc, unit="task", disable=not self.progress or not items,
                   file=sys.stderr, dynamic_ncols=True)
        try:
            if self.client is None:
                for index, item in enumerate(items):
                    yield index, fn(item)
                    bar.update()
                return
            yield from self._map_distributed(fn, items, bar)
        finally:
            bar.close()

    def _map_distributed(self, fn, items, bar) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = self.client.map(fn, items, retries=RETRIES, pure=False)
        index_of = {future.key: index for index, future in enumerate(futures)}
        for future in as_completed(futures):
            result = future.result()
            yield index_of[future.key], result
            bar.update()
            future.release()


@contextmanager
def open_engine(scheduler: str | None = None, workers: int | None = None, *,
                progress: bool = True) -> Iterator[Engine]:
    """An ``Engine`` on a local cluster, an existing cluster (``tcp://…``) or in-process (``sync``).

    The embedded cluster serves a dashboard only when its link is printed (``progress``): nobody
    can find an unannounced port, and the dashboard's bokeh import costs ~0.7 CPU-s per build.
    """
    if scheduler == "sync":
        yield Engine(None, progress=progress)
        return
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        client, cluster, busy = Client(scheduler), None, 0
    else:
        busy = workers or default_workers()
        with dask.config.set(cluster_config(dashboard=progress)):  # kept by the nannies for restarts
            cluster = LocalCluster(n_workers=busy, threads_per_worker=1, processes=True,
                                   dashboard_address=":0" if progress else None, silence_logs=40)
        client = Client(cluster)
    if progress:
        print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
    try:
        yield Engine(client, progress=progress, busy_cores=busy)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
