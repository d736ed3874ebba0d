"""The catalog filter flags of ``ringmo query``.

The trainer's commands generate the same flags from their config dataclass
(``training.config.PretrainConfig``, so YAML configs and torchrun launches share them); a test
(``tests/training/test_config.py``) keeps the two flag sets equal, and ``Query`` parses the
values for both (``@FILE`` polygons included).
"""

from __future__ import annotations

import argparse

from catalogs.query import Query


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("selection (catalog query)")
    group.add_argument("--bbox", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                       help="lon/lat box; xmin > xmax crosses the antimeridian")
    group.add_argument("--polygon", help="WKT or GeoJSON text, or @FILE holding either (EPSG:4326)")
    group.add_argument("--sensor", action="append", default=[], help="sensor name (repeatable)")
    group.add_argument("--gsd-min", type=float, help="minimum GSD in metres")
    group.add_argument("--gsd-max", type=float, help="maximum GSD in metres")
    group.add_argument("--date-from", help="acquired on or after (ISO date)")
    group.add_argument("--date-to", help="acquired on or before (ISO date)")
    group.add_argument("--split", action="append", default=[], help="train/val/test (repeatable)")
    group.add_argument("--min-quality", type=float, help="minimum quality score in [0, 1]")
    group.add_argument("--label", action="append", default=[], help="class label (repeatable)")
    group.add_argument("--limit", type=int, help="at most this many rows")


def query_from_args(args: argparse.Namespace) -> Query:
    return Query(
        bbox=tuple(args.bbox) if args.bbox else None,
        polygon=args.polygon,
        sensors=tuple(args.sensor),
        gsd_min=args.gsd_min,
        gsd_max=args.gsd_max,
        date_from=args.date_from,
        date_to=args.date_to,
        splits=tuple(args.split),
        min_quality=args.min_quality,
        labels=tuple(args.label),
        limit=args.limit,
    )
