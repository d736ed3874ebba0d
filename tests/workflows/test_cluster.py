"""A build on a real Dask cluster (scheduler and workers in separate processes) equals a local one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflows.build import build
from tests.workflows.conftest import small_build_config
from tests.workflows.test_determinism import comparable_manifest, corpus_digest

BIN = Path(sys.executable).parent


def _wait_for(path: Path, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(0.2)
    raise TimeoutError(f"no scheduler file at {path} after {timeout} s")


@pytest.fixture
def cluster(tmp_path):
    """``dask scheduler`` + two ``dask worker`` processes on loopback; yields the address."""
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    processes = [subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
         "--scheduler-file", str(scheduler_file)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        address = _wait_for(scheduler_file)["address"]
        for _ in range(2):
            processes.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--host", "127.0.0.1", "--dashboard-address", ":0", "--no-nanny"], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        # Workers first, each gone before the scheduler goes: a worker told to stop while its scheduler
        # is already closing spends its connect timeout (30 s) trying to say goodbye.
        for process in reversed(processes):
            _stop(process)


def _stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_build_on_a_real_cluster_equals_local_build(raw_scenes, built_corpus, cluster, tmp_path):
    reference, _ = built_corpus
    corpus = tmp_path / "on-cluster"
    build(small_build_config(raw_scenes, corpus, scheduler=cluster), progress=False)
    assert corpus_digest(corpus) == corpus_digest(reference)
    assert comparable_manifest(corpus) == comparable_manifest(reference)
