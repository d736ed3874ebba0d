"""Benchmarks: each module ``benchmarks/<name>.py`` defines ``run(quick: bool) -> list[Figure]``.

``python -m benchmarks [NAME ...] [--quick] [--write BENCHMARKS.md]`` runs them and prints one
table of this project's figure against a baseline measured in the same run.
"""

from benchmarks.figures import Figure

__all__ = ["Figure"]
