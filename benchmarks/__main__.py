"""Run benchmarks and print one table: ``python -m benchmarks [NAME ...] [--quick] [--write F]``."""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

import benchmarks
from benchmarks.figures import Figure, cpu_count

_NOT_BENCHMARKS = {"figures", "__main__"}
START, END = "<!-- bench:start -->", "<!-- bench:end -->"  # --write replaces only this part


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
    text = f"{value:.3g}"
    return f"{value:.4f}" if text == "1" else text  # 0.9998 must not print as 1 next to a "≥ 1" target


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


def _load() -> float:
    """1-minute load average: above ~0 before a run, other jobs were sharing the cores."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def results_block(text: str, argv: list[str], seconds: float, loads: tuple[float, float]) -> str:
    """The written part of the results file: machine, run, total wall time, then the table."""
    minutes, rest = divmod(round(seconds), 60)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python -m benchmarks", *argv])
    return (f"Machine: {machine()}.\n"
            f"Run: `{command}` on {when}, total wall time {minutes} min {rest:02d} s; "
            f"1-minute load average {loads[0]:.2f} before and {loads[1]:.2f} after the run.\n\n{text}")


def write_results(path: Path, block: str) -> None:
    """Replace the part between the markers (the prose around it stays), or write a new file."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in old and END in old and old.index(START) < old.index(END):
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = "# Benchmarks\n\n", "\n"
    path.write_text(f"{head}{START}\n{block}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {available()}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--write", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    names = args.names or available()
    figures: list[Figure] = []
    load_before, start = _load(), time.perf_counter()
    for name in names:
        print(f"running benchmark {name} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        figures.extend(module.run(quick=args.quick))
        print(f"benchmark {name}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    text = table(figures)
    print(text)
    print(f"total wall time {seconds:.0f} s", file=sys.stderr)
    if args.write:
        write_results(args.write, results_block(text, argv, seconds, (load_before, _load())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
