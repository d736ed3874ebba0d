"""What each ``ringmo`` subcommand does, given its parsed flags (I/O and printing live here).

Errors are raised, typed (``catalogs.errors``), and reported once by ``workflows.cli.main``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from catalogs.errors import CorpusError, InputError, UsageError
from catalogs.layout import require_corpus
from catalogs.options import values_from
from catalogs.store import is_local, local_path
from workflows.config import make_config


def _check_inputs_exist(inputs: list[str]) -> None:
    """A local input path that does not exist is a typo: refuse it before anything is written.
    (Globs, URLs, and paths that exist but hold nothing usable are the build's to judge.)"""
    for text in inputs:
        if is_local(text) and not any(c in text for c in "*?[{") and not local_path(text).exists():
            raise InputError(text, "no such file or directory (a build input)")


def build(args: argparse.Namespace) -> int:
    from workflows.build import build as run_build, print_summary
    from workflows.build_config import BuildConfig

    _check_inputs_exist(args.inputs)
    overrides = values_from(args, BuildConfig)
    if overrides.get("whole_image") is None and args.tile_size is not None:
        overrides["whole_image"] = False  # an explicit tile size asks to tile labeled images
    config = make_config(BuildConfig, args.config, inputs=tuple(args.inputs), corpus=args.corpus, **overrides)
    print_summary(run_build(config, progress=not args.quiet))
    return 0


def curate(args: argparse.Namespace) -> int:
    from catalogs.manifest import read_manifest
    from workflows.build import build as run_build, print_summary
    from workflows.build_config import BuildConfig

    require_corpus(args.corpus)
    recorded = read_manifest(args.corpus).get("config")
    if not recorded:
        raise CorpusError(args.corpus, "no manifest.json with a build config; run `ringmo build` first")
    base = make_config(BuildConfig, None, **recorded)
    config = make_config(BuildConfig, args.config, **{**recorded, "corpus": args.corpus,
                                                      **values_from(args, BuildConfig)})
    changed = sorted(k for k, v in config.tiling_fields().items() if base.tiling_fields()[k] != v)
    if changed:
        raise UsageError(args.config or "ringmo curate", f"changes tiling settings ({', '.join(changed)}); "
                         "ringmo curate changes curation settings only: tiling settings need a new build")
    print_summary(run_build(config, progress=not args.quiet, reuse_inputs=True))
    return 0


def query(args: argparse.Namespace) -> int:
    from catalogs.query import Query, read_catalog
    from workflows.query_output import format_for, write_query_result

    table = read_catalog(args.corpus, Query(**values_from(args, Query)))
    write_query_result(table, args.corpus, args.format or format_for(args.output), args.output)
    return 0


def stats(args: argparse.Namespace) -> int:
    from workflows.stats import corpus_stats, format_stats

    require_corpus(args.corpus)
    print(format_stats(corpus_stats(args.corpus)))
    return 0


def validate(args: argparse.Namespace) -> int:
    from workflows.validate import ERROR, format_findings, repair_corpus, validate_corpus

    require_corpus(args.corpus)
    if args.repair:
        for action in repair_corpus(args.corpus):
            print(f"repair: {action}")
    findings = validate_corpus(args.corpus)
    print(format_findings(findings))
    return 1 if any(f.severity == ERROR for f in findings) else 0


def report(args: argparse.Namespace) -> int:
    from workflows.report import write_report

    require_corpus(args.corpus)
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


TRAINING_COMMANDS = {"pretrain": pretrain, "finetune": finetune, "evaluate": evaluate, "export": export}
