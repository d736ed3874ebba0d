"""The Dask engine: what the embedded cluster's worker processes are started with."""

from __future__ import annotations

import os

import pytest

from workflows.engine import UNWATCHED_CONFIG, WORKER_ENVIRON, open_engine


def _environ(_item) -> dict:
    return {name: os.environ.get(name) for name in WORKER_ENVIRON}


def _config(_item) -> dict:
    import dask

    return {key: dask.config.get(key) for key in UNWATCHED_CONFIG}


@pytest.mark.slow
def test_embedded_workers_keep_the_default_allocator(monkeypatch):
    """Dask's MALLOC_TRIM_THRESHOLD_ would mmap every tile-sized buffer in the workers."""
    for name in WORKER_ENVIRON:
        monkeypatch.delenv(name, raising=False)
    with open_engine(workers=1, progress=False) as engine:
        [(_, seen)] = list(engine.map(_environ, [0], desc="environ"))
        [(_, config)] = list(engine.map(_config, [0], desc="config"))
        scheduler_options = engine.client.cluster.scheduler_spec["options"]
    assert seen == {name: None for name in WORKER_ENVIRON}
    assert scheduler_options["dashboard"] is False  # quiet: no link printed, so no bokeh dashboard
    assert config == UNWATCHED_CONFIG  # and no instruments that only feed the dashboard


@pytest.mark.slow
def test_a_variable_the_user_exports_still_reaches_the_workers(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    with open_engine(workers=1, progress=False) as engine:
        [(_, seen)] = list(engine.map(_environ, [0], desc="environ"))
    assert seen["MALLOC_TRIM_THRESHOLD_"] == "1048576"


def test_sync_engine_runs_in_this_process():
    with open_engine("sync", progress=False) as engine:
        assert list(engine.map(lambda x: x * 2, [1, 2], desc="double")) == [(0, 2), (1, 4)]
