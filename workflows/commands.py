"""What each ``ringmo`` subcommand does, given its parsed flags (I/O and printing live here)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workflows.build_config import BuildConfig
from workflows.config import make_config

_OVERRIDES = ("tile_size", "stride", "gsd", "edge", "format", "labels", "whole_image", "resize", "group_bands",
              "task", "masks", "pair", "classes", "class_attribute", "min_inside", "label_field", "dedup_distance",
              "dedup_across_places", "rotation_invariant", "h3_resolution", "alpha", "target_size",
              "max_per_scene", "split", "split_by", "shard_max_mb", "shard_max_count", "seed", "scheduler", "workers",
              "overwrite", "keep_staging")


def _overrides(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) for name in _OVERRIDES}


def build(args: argparse.Namespace) -> int:
    from workflows.build import build as run_build, print_summary

    overrides = _overrides(args)
    if overrides["whole_image"] is None and args.tile_size is not None:
        overrides["whole_image"] = False  # an explicit tile size asks to tile labeled images
    config = make_config(BuildConfig, args.config, inputs=tuple(args.inputs), corpus=args.corpus, **overrides)
    summary = _storage_errors_exit(run_build, config, progress=not args.quiet)
    print_summary(summary)
    return 0


def _storage_errors_exit(run, *args, **kwargs):
    """A full disk stops a build with one line naming the file, and says how to resume."""
    from catalogs.store import is_storage_error

    try:
        return run(*args, **kwargs)
    except OSError as error:
        if not is_storage_error(error):
            raise
        raise SystemExit(f"ringmo: build stopped: {error}. Finished work is kept: free space (or fix "
                         "the storage) and run the same command again to resume.") from error


def curate(args: argparse.Namespace) -> int:
    from catalogs.manifest import read_manifest
    from workflows.build import build as run_build, print_summary

    recorded = read_manifest(args.corpus).get("config")
    if not recorded:
        raise SystemExit(f"{args.corpus}: no manifest.json with a build config; run `ringmo build` first")
    base = make_config(BuildConfig, None, **recorded)
    config = make_config(BuildConfig, args.config, **{**recorded, "corpus": args.corpus,
                                                      **{k: v for k, v in _overrides(args).items() if v is not None}})
    if config.tiling_fields() != base.tiling_fields():
        raise SystemExit("ringmo curate changes curation settings only; tiling settings need a new build")
    summary = _storage_errors_exit(run_build, config, progress=not args.quiet, reuse_inputs=True)
    print_summary(summary)
    return 0


def query(args: argparse.Namespace) -> int:
    from catalogs.query_args import query_from_args
    from workflows.query_output import format_for, write_query_result

    from catalogs.query import read_catalog

    table = read_catalog(args.corpus, query_from_args(args))
    write_query_result(table, args.corpus, args.format or format_for(args.output), args.output)
    return 0


def stats(args: argparse.Namespace) -> int:
    from workflows.stats import corpus_stats, format_stats

    print(format_stats(corpus_stats(args.corpus)))
    return 0


def validate(args: argparse.Namespace) -> int:
    from workflows.validate import ERROR, format_findings, repair_corpus, validate_corpus

    if args.repair:
        for action in repair_corpus(args.corpus):
            print(f"repair: {action}")
    findings = validate_corpus(args.corpus)
    print(format_findings(findings))
    return 1 if any(f.severity == ERROR for f in findings) else 0


def report(args: argparse.Namespace) -> int:
    from workflows.report import write_report

    print(write_report(args.corpus))
    return 0


def samples(args: argparse.Namespace) -> int:
    from workflows.samples import write_labeled_set, write_sample_scenes

    out = Path(args.out)
    if getattr(args, "dense", False):
        from workflows.dense_demo import write_dense_samples

        folders = write_dense_samples(out, seed=args.seed)
        print(f"wrote the segmentation set under {folders['segmentation']} and the change set under "
              f"{folders['change']}")
        return 0
    if getattr(args, "detection", False):
        from workflows.samples.detection import write_detection_set

        written = write_detection_set(out / "images", out / "labelTxt", seed=args.seed)
        print(f"build it with: ringmo build {out / 'images'} CORPUS --task detection --labels {out / 'labelTxt'} "
              "--tile-size 128 --stride 96 --edge shift")
    elif args.labeled:
        written = write_labeled_set(out, seed=args.seed)
    else:
        written = write_sample_scenes(out, seed=args.seed, scale=args.scale)
    print(f"wrote {len(written)} files under {out}")
    return 0


def leaks(args: argparse.Namespace) -> int:
    from workflows.contamination import audit, format_audit, write_audit

    result = audit(args.corpus, args.against, tuple(args.split or ()), args.max_distance)
    paths = write_audit(result, args.out or str(Path(args.against) / "report" / "contamination"))
    print(format_audit(result))
    print(f"report: {paths['json']}")
    return 1 if result["contaminated"] else 0


def demo(args: argparse.Namespace) -> int:
    from workflows.demo import run_demo

    return run_demo(Path(args.out), steps=args.steps)


def pretrain(argv: list[str]) -> int:
    from training.pretrain import main as pretrain_main

    return pretrain_main(argv, prog="ringmo pretrain") or 0


def finetune(argv: list[str]) -> int:
    """Fine-tune, after the contamination audit when the checkpoint's corpus is reachable."""
    import logging

    from training.finetune import config_from_args, main as finetune_main, task_of
    from workflows.contamination import audit_before_finetune

    if not {"-h", "--help"} & set(argv):
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if task_of(argv) == "detection":  # detection owns its flags
            from training.tasks.detection import config_from_args as detection_config

            cfg = detection_config(argv)
            audit_before_finetune(cfg.data, cfg.checkpoint, cfg.out, cfg.eval_split)
        else:
            cfg = config_from_args(argv)
            audit_before_finetune(cfg.data, cfg.checkpoint, cfg.out, cfg.test_split)
    return finetune_main(argv) or 0


def evaluate(argv: list[str]) -> int:
    from training.evaluate import main as evaluate_main

    return evaluate_main(argv) or 0


def export(argv: list[str]) -> int:
    from training.export import main as export_main

    return export_main(argv) or 0


TRAINING_COMMANDS = {"finetune": finetune, "evaluate": evaluate, "export": export}
