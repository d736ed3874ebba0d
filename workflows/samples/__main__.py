"""``python -m workflows.samples OUT [--scale S] [--seed N] [--labeled]``: write the sample data.

Without ``--labeled`` it writes the raw scene set into OUT; with it, the folder-per-class
labeled set (``--per-class``, ``--size``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workflows.samples import write_labeled_set, write_sample_scenes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m workflows.samples", description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--scale", type=float, default=1.0, help="scene size multiplier")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--labeled", action="store_true", help="write the labeled set instead")
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    if args.labeled:
        classes = write_labeled_set(args.out, per_class=args.per_class, size=args.size,
                                    seed=args.seed)
        print(f"{len(classes)} classes x {args.per_class} images -> {args.out}", end="")
    else:
        paths = write_sample_scenes(args.out, seed=args.seed, scale=args.scale)
        print(f"{len(paths)} scenes -> {args.out}", end="")
    print(f" in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
