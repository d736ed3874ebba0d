"""Run benchmarks and print one table: ``python -m benchmarks [NAME ...] [--quick] [--write F]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
from pathlib import Path

import benchmarks
from benchmarks.figures import Figure, cpu_count

_NOT_BENCHMARKS = {"figures", "__main__"}


def available() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name not in _NOT_BENCHMARKS and not m.name.startswith("_")
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    header = "| benchmark | figure | this project | baseline | baseline is | unit | ratio | target |"
    rule = "|---|---|---|---|---|---|---|---|"
    rows = [
        f"| {f.benchmark} | {f.figure} | {_fmt(f.ours)} | {_fmt(f.baseline)} | {f.baseline_name} "
        f"| {f.unit} | {_fmt(f.ratio)} | {f.target} |"
        for f in figures
    ]
    return "\n".join([header, rule, *rows])


def machine() -> str:
    return f"{platform.platform()}, Python {platform.python_version()}, {cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {available()}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--write", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    names = args.names or available()
    figures: list[Figure] = []
    for name in names:
        print(f"running benchmark {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        figures.extend(module.run(quick=args.quick))
    text = table(figures)
    print(text)
    if args.write:
        args.write.write_text(f"# Benchmarks\n\nMachine: {machine()}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
