"""The ``ringmo`` command line: one subcommand per job, each mapping flags onto its config."""

from __future__ import annotations

import argparse
import sys

from workflows import commands


def _field_help(name: str) -> str:
    import dataclasses

    from workflows.build_config import BuildConfig

    return next(f.metadata["help"] for f in dataclasses.fields(BuildConfig) if f.name == name)


def _task_options(group) -> None:
    """``--task --masks --pair --classes --class-attribute --min-inside --label-field``: help from
    the BuildConfig fields."""
    import dataclasses

    from workflows.build_config import BuildConfig

    fields = {f.name: f for f in dataclasses.fields(BuildConfig)}
    for name in ("task", "masks", "pair", "classes", "class_attribute", "min_inside", "label_field"):
        extra = {"choices": ["segmentation", "change", "detection"]} if name == "task" else {}
        if name == "min_inside":
            extra["type"] = float
        group.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                           help=fields[name].metadata["help"], **extra)


def _build_options(parser: argparse.ArgumentParser, *, tiling: bool) -> None:
    parser.add_argument("--config", help="YAML file with BuildConfig settings (flags override it)")
    if tiling:
        tile = parser.add_argument_group("tiling")
        tile.add_argument("--tile-size", type=int, help="tile size in sample pixels (default 256)")
        tile.add_argument("--stride", type=int, help="tile stride in sample pixels (default: tile size)")
        tile.add_argument("--gsd", type=float, help="resample to this GSD in metres")
        tile.add_argument("--edge", choices=["pad", "drop", "shift"],
                          help="partial edge tiles: pad, drop, or shift the last window inside (DOTA)")
        tile.add_argument("--format", choices=["auto", "png", "jpg", "webp", "npy", "tif"],
                          help="sample encoding (auto: png for uint8 with 1, 3 or 4 bands, else npy)")
        tile.add_argument("--labels", help="from-folders, or a CSV/Parquet of (uri, label)")
        tile.add_argument("--whole-image", action=argparse.BooleanOptionalAction, default=None,
                          help="one sample per input image (default with --labels unless --tile-size)")
        tile.add_argument("--resize", type=int, help="whole-image samples: resize to this side (default: keep)")
        tile.add_argument("--group-bands", action=argparse.BooleanOptionalAction, default=None,
                          help="stack the per-band files of one product (B1..B7, VV/VH) into one scene "
                               "(default on)")
        _task_options(tile)
    curate = parser.add_argument_group("curation")
    curate.add_argument("--dedup-distance", type=int, help="near-duplicate Hamming radius (pHash bits)")
    curate.add_argument("--dedup-across-places", action="store_true", default=None,
                        help="also merge look-alikes whose footprints do not intersect")
    curate.add_argument("--rotation-invariant", action="store_true", default=None,
                        help="also merge near-duplicates rotated by 90, 180 or 270 degrees")
    curate.add_argument("--h3-resolution", type=int, help="H3 resolution of the cells tiles are balanced over")
    curate.add_argument("--alpha", type=float, help="balance temperature: 1 natural, 0 uniform")
    curate.add_argument("--target-size", type=int, help="keep at most this many tiles")
    curate.add_argument("--max-per-scene", type=int, help="keep at most this many tiles of one scene")
    curate.add_argument("--split", type=lambda s: tuple(float(v) for v in s.split(",")),
                        help="train,val,test fractions (default 0.9,0.05,0.05)")
    curate.add_argument("--split-by", choices=["block", "scene", "folders"], default=None,
                        help=_field_help("split_by"))
    pack = parser.add_argument_group("packing and engine")
    pack.add_argument("--shard-max-mb", type=int, help="a shard closes before it passes this many MiB")
    pack.add_argument("--shard-max-count", type=int, help="a shard closes at this many samples")
    pack.add_argument("--seed", type=int, help="seed of dedup, balancing, splits and shard order")
    pack.add_argument("--scheduler", help="tcp://HOST:PORT of a Dask scheduler, or 'sync'")
    pack.add_argument("--workers", type=int, help="local cluster worker processes (default: cores)")
    pack.add_argument("--quiet", action="store_true", help="no progress bars")
    pack.add_argument("--keep-staging", action="store_true", default=None,
                      help="keep the staged bytes of kept tiles too (default: a finished build keeps in "
                      "staging only the tiles curation set aside; the shards hold the others)")
    if tiling:
        pack.add_argument("--overwrite", action="store_true", default=None,
                          help="replace an existing corpus built from other inputs or tiling settings")


def parser() -> argparse.ArgumentParser:
    from catalogs.query_args import add_query_arguments

    top = argparse.ArgumentParser(prog="ringmo", description="RingMo-style remote-sensing corpus "
                                  "builder and masked-image-modeling trainer.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="raw scenes -> tiles -> shards + GeoParquet catalog")
    build.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="directories, list files, STAC items, globs, URIs or object-store prefixes "
                       "(s3://bucket/raw/)")
    build.add_argument("corpus", metavar="CORPUS",
                       help="the corpus to write: a directory or an fsspec URL (s3://bucket/corpus)")
    _build_options(build, tiling=True)
    build.set_defaults(run=commands.build)

    curate = sub.add_parser("curate", help="re-run dedup/balance/split/pack with other settings")
    curate.add_argument("corpus", help="corpus directory or URL")
    _build_options(curate, tiling=False)
    curate.set_defaults(run=commands.curate)

    query = sub.add_parser("query", help="select catalog rows by region, sensor, GSD, date, ...")
    query.add_argument("corpus", help="corpus directory or URL")
    add_query_arguments(query)
    query.add_argument("--format", choices=["table", "geojson", "parquet", "shards", "keys", "count"],
                       help="output format (default: from the --output suffix .geojson/.json/.parquet, "
                       "else table)")
    query.add_argument("--output", "-o", help="write here instead of standard output")
    query.set_defaults(run=commands.query)

    stats = sub.add_parser("stats", help="counts per status, sensor and cell decile")
    stats.add_argument("corpus", help="corpus directory or URL")
    stats.set_defaults(run=commands.stats)

    validate = sub.add_parser("validate", help="check shards, checksums and catalog agree; exit 1 on any fault")
    validate.add_argument("corpus", help="corpus directory or URL")
    validate.add_argument("--repair", action="store_true",
                          help="do the safe repairs (rebuild a missing or broken catalog from the shards)")
    validate.set_defaults(run=commands.validate)

    report = sub.add_parser("report", help="(re)write the corpus card CORPUS/report/index.html")
    report.add_argument("corpus", help="corpus directory or URL")
    report.set_defaults(run=commands.report)

    samples = sub.add_parser("samples", help="write the built-in sample scenes")
    samples.add_argument("out", help="directory to write the files into")
    samples.add_argument("--scale", type=float, default=1.0,
                         help="multiply every scene's pixel size (GSD kept, so footprints shrink); not with --labeled")
    samples.add_argument("--labeled", action="store_true", help="the labeled set instead")
    samples.add_argument("--dense", action="store_true", help="the segmentation (img_dir/, ann_dir/) and change "
                         "detection (A/, B/, label/) sets instead, under OUT/segmentation and OUT/change")
    samples.add_argument("--detection", action="store_true",
                         help="the detection set instead: images with vehicles and buildings + DOTA labelTxt")
    samples.add_argument("--seed", type=int, default=0, help="seed of the generated pixels (same seed, same bytes)")
    samples.set_defaults(run=commands.samples)

    leaks = sub.add_parser("leaks", help="contamination audit: near-duplicates between a pretraining corpus "
                           "and a downstream set (exit 1 when any)")
    leaks.add_argument("corpus", help="pretraining corpus directory or URL")
    leaks.add_argument("--against", required=True, help="downstream labeled corpus (ringmo build --labels / --task)")
    leaks.add_argument("--split", action="append", help="downstream split to check (repeatable; default all)")
    leaks.add_argument("--max-distance", type=int, default=8, help="pHash Hamming radius of a near-duplicate (bits)")
    leaks.add_argument("--out", help="where contamination.json/.png go (default: AGAINST/report/contamination)")
    leaks.set_defaults(run=commands.leaks)

    demo = sub.add_parser("demo", help="end to end on the sample scenes: build, query, train, report")
    demo.add_argument("out", help="directory for the sample scenes, corpus, training runs and report")
    demo.add_argument("--steps", type=int, default=300, help="pretraining steps")
    demo.set_defaults(run=commands.demo)

    pretrain = sub.add_parser("pretrain", add_help=False, help="MIM pretraining from a corpus "
                              "(flags: see `ringmo pretrain --help`)")
    pretrain.set_defaults(run=commands.pretrain)
    for name, text in (("finetune", "linear probe or full fine-tune on a labeled corpus"),
                       ("evaluate", "score a fine-tuned classifier (top-1, per-class, macro F1, confusion)"),
                       ("export", "export a pretrained encoder as timm-compatible safetensors + model card")):
        sub.add_parser(name, add_help=False, help=f"{text} (flags: see `ringmo {name} --help`)")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = parser()
    if argv and argv[0] == "pretrain":  # the trainer owns its flags (shared with torchrun launches)
        return commands.pretrain(argv[1:])
    if argv and argv[0] in commands.TRAINING_COMMANDS:  # training.* modules own these flags too
        return commands.TRAINING_COMMANDS[argv[0]](argv[1:])
    args = top.parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
