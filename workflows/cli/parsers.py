"""The argparse parsers of ``ringmo``: one subcommand per job, flags generated from its config.

Build and curate flags come from the fields of ``BuildConfig``, the query filters from those of
``catalogs.query.Query`` (``catalogs.options.add_options``); only flags that are no setting of
a config (``--config``, ``--quiet``, output choices) are declared here. ``BuildConfig`` brings
the whole pipeline in (GDAL, OpenCV, numba: ~1 s of imports), so a command that does not build
(``query``, ``validate``, ``--help``) gets a parser without the build flags.
"""

from __future__ import annotations

import argparse

from catalogs.options import add_options
from catalogs.query import Query
from workflows.cli import commands


def _build_options(parser: argparse.ArgumentParser, *, command: str) -> None:
    """``BuildConfig``'s flags; ``ringmo curate`` gets only those not fixed for a corpus's life."""
    from workflows.build_config import BuildConfig

    parser.add_argument("--config", help="YAML file with BuildConfig settings (flags override it)")
    add_options(parser, BuildConfig, command=command,
                include=lambda f: command == "build" or not f.metadata.get("fixed"))
    parser.add_argument("--quiet", action="store_true", help="no progress bars (and no Dask dashboard)")


def _corpus_command(sub, name: str, help: str, run) -> argparse.ArgumentParser:
    command = sub.add_parser(name, help=help)
    command.add_argument("corpus", help="corpus directory or URL")
    command.set_defaults(run=run)
    return command


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``ringmo`` parser; with ``command`` (the subcommand about to run, "" for none) the build
    flags are added only when it builds. None: every flag (help pages, the CLI reference)."""
    def wants(name: str) -> bool:
        return command is None or command == name

    top = argparse.ArgumentParser(prog="ringmo", description="RingMo-style remote-sensing corpus "
                                  "builder and masked-image-modeling trainer.")
    top.add_argument("--debug", action="store_true",
                     help="show the traceback of an error (any position; or RINGMO_DEBUG=1)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="raw scenes -> tiles -> shards + GeoParquet catalog")
    build.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="directories, list files, STAC items, globs, URIs or object-store prefixes "
                       "(s3://bucket/raw/)")
    build.add_argument("corpus", metavar="CORPUS",
                       help="the corpus to write: a directory or an fsspec URL (s3://bucket/corpus)")
    if wants("build"):
        _build_options(build, command="build")
    build.set_defaults(run=commands.build)

    curate = _corpus_command(sub, "curate", "re-run dedup/balance/split/pack with other settings", commands.curate)
    if wants("curate"):
        _build_options(curate, command="curate")

    query = _corpus_command(sub, "query", "select catalog rows by region, sensor, GSD, date, ...", commands.query)
    add_options(query, Query)
    query.add_argument("--format", choices=["table", "geojson", "parquet", "shards", "keys", "count"],
                       help="output format (default: from the --output suffix .geojson/.json/.parquet, "
                       "else table)")
    query.add_argument("--output", "-o", help="write here instead of standard output")

    _corpus_command(sub, "stats", "counts per status, sensor and cell decile", commands.stats)
    validate = _corpus_command(sub, "validate", "check shards, checksums and catalog agree; exit 1 on any fault",
                               commands.validate)
    validate.add_argument("--repair", action="store_true",
                          help="do the safe repairs (rebuild a missing or broken catalog from the shards)")
    _corpus_command(sub, "report", "(re)write the corpus card CORPUS/report/index.html", commands.report)

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
    leaks.set_defaults(run=commands.leaks)
    leaks.add_argument("--against", required=True, help="downstream labeled corpus (ringmo build --labels / --task)")
    leaks.add_argument("--split", action="append", help="downstream split to check (repeatable; default all)")
    leaks.add_argument("--max-distance", type=int, default=8, help="pHash Hamming radius of a near-duplicate (bits)")
    leaks.add_argument("--out", help="where contamination.json/.png go (default: AGAINST/report/contamination)")

    demo = sub.add_parser("demo", help="end to end on the sample scenes: build, query, train, report")
    demo.add_argument("out", help="directory for the sample scenes, corpus, training runs and report")
    demo.add_argument("--steps", type=int, default=300, help="pretraining steps")
    demo.set_defaults(run=commands.demo)

    for name, text in (("pretrain", "MIM pretraining from a corpus"),
                       ("finetune", "linear probe or full fine-tune on a labeled corpus"),
                       ("evaluate", "score a fine-tuned classifier (top-1, per-class, macro F1, confusion)"),
                       ("export", "export a pretrained encoder as timm-compatible safetensors + model card")):
        sub.add_parser(name, add_help=False, help=f"{text} (flags: see `ringmo {name} --help`)")
    return top
