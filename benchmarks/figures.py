"""The row a benchmark reports: one figure of ours against a baseline measured in the same run."""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure.

    ``ratio`` is ours / baseline for rates (higher is better) and is computed by the caller so
    that the direction is explicit; ``target`` says in words what the ratio must reach.
    """

    benchmark: str
    figure: str
    ours: float
    baseline: float | None
    baseline_name: str
    unit: str
    ratio: float | None
    target: str = ""


@contextmanager
def stopwatch():
    """Yields a one-element list that holds the elapsed seconds once the block exits."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start


def peak_rss_mb_of_children() -> float:
    """Peak resident set size (MB) of finished child processes, as the kernel recorded it."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def children_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of every reaped child process so far (subtract two readings)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime
