"""``PretrainConfig``: one frozen dataclass for a pretraining run; CLI > YAML file > defaults.

The argparse parser is generated from the fields (flag names, types and help live next to the
field), so ``ringmo pretrain`` and ``torchrun -m training.pretrain`` accept the same flags. The
catalog filters are the ``ringmo query`` ones: ``--bbox --polygon --sensor --gsd-min --gsd-max
--date-from --date-to --split --min-quality --label --limit``.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml


def option(default, help: str, flag: str | None = None, repeat: bool = False):
    """A config field whose ``help`` (and optional ``flag`` name, ``repeat``able) drive its CLI flag."""
    return field(default=default, metadata={"help": help, "flag": flag, "repeat": repeat})


@dataclass(frozen=True)
class PretrainConfig:
    out: str = option("", "run directory (checkpoints, metrics, pictures); rerun it to resume")
    corpus: str | None = option(None, "corpus root or URL: train on its catalog (filters apply)")
    shards: tuple[str, ...] = option((), "shard URLs/patterns instead of a corpus (brace, glob, http, pipe:)",
                                   flag="--shards", repeat=True)
    # catalog filters (same names as `ringmo query`)
    bbox: tuple[float, ...] | None = option(None, "lon/lat box: --bbox XMIN YMIN XMAX YMAX (or --bbox=xmin,ymin,xmax,ymax)")
    polygon: str | None = option(None, "region as WKT or GeoJSON text, or @FILE holding either (EPSG:4326)")
    sensors: tuple[str, ...] = option((), "keep this sensor (repeatable)", flag="--sensor", repeat=True)
    gsd_min: float | None = option(None, "minimum GSD in metres")
    gsd_max: float | None = option(None, "maximum GSD in metres")
    date_from: str | None = option(None, "acquired on or after (ISO date)")
    date_to: str | None = option(None, "acquired on or before (ISO date)")
    splits: tuple[str, ...] = option((), "keep this split (repeatable; default all)", flag="--split", repeat=True)
    min_quality: float | None = option(None, "minimum quality score")
    labels: tuple[str, ...] = option((), "keep this label (repeatable)", flag="--label", repeat=True)
    limit: int | None = option(None, "at most this many catalog rows")
    # model and objective
    model: str = option("swin_base", "encoder: swin_base (RingMo), swin_tiny, vit_base, vit_tiny, swin_nano, vit_nano")
    img_size: int | None = option(None, "input size (default: the model's)")
    mask: str = option("pimask", "mask kind: pimask (RingMo), simmim, random")
    mask_patch: int = option(32, "mask patch side in pixels")
    mask_ratio: float = option(0.6, "fraction of mask patches picked (of pixels for random)")
    pixel_ratio: float = option(0.6, "fraction of pixels masked inside a picked patch (pimask)")
    norm_target: bool = option(False, "L1 against a per-mask-patch normalized target")
    embed: str = option("auto", "input per band layout: layout (a patch embedding each), wavelength (generated from "
                                "each band's wavelength, DOFA-style), auto (one layout: timm's own; several: layout)")
    # optimization (RingMo / SimMIM recipe)
    steps: int = option(1000, "optimizer steps in total (rerun with more to continue)")
    batch_size: int = option(32, "samples per rank per micro-batch")
    accum: int = option(1, "micro-batches per optimizer step")
    base_lr: float = option(1e-4, "learning rate per 512 samples of total batch")
    lr_floor: float = option(0.016, "peak lr at least LR_FLOOR / sqrt(steps), so short small-batch runs learn "
                                    "(0: RingMo's linear rule alone)")
    min_lr: float = option(5e-7, "cosine floor")
    warmup_lr: float = option(5e-7, "learning rate at step 0")
    warmup_steps: int | None = option(None, "warmup steps (default 10% of steps)")
    weight_decay: float = option(0.05, "AdamW weight decay")
    beta1: float = option(0.9, "AdamW beta1")
    beta2: float = option(0.999, "AdamW beta2")
    clip_grad: float = option(5.0, "gradient norm clip (0: off)")
    max_bad_steps: int = option(5, "consecutive non-finite-loss steps (each skipped) before the run stops (0: never)")
    # data
    seed: int = option(0, "seed of the sample order, augmentations, masks and the model init")
    layout_alpha: float = option(1.0, "band layouts' shares of the batches ~ samples ** alpha (1: natural, 0: uniform)")
    shuffle_buffer: int = option(1000, "shuffle buffer in samples")
    resampled: bool = option(False, "draw shards with replacement per rank (very large corpora)")
    epoch_samples: int | None = option(None, "samples per epoch over all ranks (default: all selected)")
    scale_min: float = option(0.67, "RandomResizedCrop minimum area fraction")
    rot90: bool = option(True, "random 90-degree rotations")
    num_workers: int = option(2, "loader worker processes per rank")
    prefetch: int = option(2, "batches prefetched per worker")
    max_gap: int | None = option(None, "bytes of gap read through to merge reads (default: 0 local; remote: up to 256 KiB while "
                                    "gap bytes stay within 25% of the read's sample bytes)")
    # execution
    device: str = option("auto", "auto, cpu or cuda")
    precision: str = option("auto", "auto (bf16 on CUDA, fp32 on CPU), bf16, fp16, fp32")
    compile: bool = option(False, "torch.compile the model")
    channels_last: bool = option(True, "channels-last memory format on CUDA")
    deterministic: bool = option(False, "torch deterministic algorithms (exact reruns on CPU)")
    checkpoint_every: int = option(500, "steps between checkpoints")
    log_every: int = option(10, "steps between metric lines")
    image_every: int = option(500, "steps between reconstruction pictures (0: only at the end)")
    progress: bool = option(True, "progress bar on rank 0")
    log_keys: bool = option(False, "record every batch's sample keys per rank (audits)")
    stop_after: int | None = option(None, "testing: stop after this step without a final checkpoint, as a kill")

    def __post_init__(self) -> None:
        if not self.out:
            raise ValueError("--out RUN_DIR is required")
        if (self.corpus is None) == (not self.shards):
            raise ValueError("give exactly one of --corpus or --shards")
        if self.batch_size < 1 or self.accum < 1 or self.steps < 1:
            raise ValueError("steps, batch size and accumulation must be >= 1")
        if self.max_bad_steps < 0:
            raise ValueError("max_bad_steps must be >= 0")


def _base_type(annotation: str):
    text = annotation.replace("| None", "").strip()
    for name, kind in (("float", float), ("int", int), ("bool", bool), ("str", str)):
        if text.startswith(f"tuple[{name}") or text == name:
            return kind, text.startswith("tuple")
    raise TypeError(f"unsupported config annotation {annotation}")


def build_parser(prog: str = "ringmo pretrain") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Streaming MIM pretraining (RingMo: PIMask + SimMIM).",
                                     argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", help="flat YAML file of these options (flags override it)")
    for f in dataclasses.fields(PretrainConfig):
        kind, is_tuple = _base_type(str(f.type))
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        extra = {"dest": f.name, "help": f.metadata["help"].replace("%", "%%")}  # argparse formats help
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **extra)
        elif f.metadata.get("repeat"):
            parser.add_argument(flag, action="append", type=kind, **extra)
        elif is_tuple:  # "--bbox 2.2 48.8 2.5 49.0" (as ringmo query) or "--bbox=2.2,48.8,2.5,49.0"
            parser.add_argument(flag, nargs="+", type=lambda s, k=kind: tuple(k(v) for v in s.split(",") if v),
                                **extra)
        else:
            parser.add_argument(flag, type=kind, **extra)
    return parser


def _flatten(value):
    """``nargs="+"`` of comma-split parts (a list of tuples) becomes one flat tuple."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return tuple(x for part in value for x in part)
    return tuple(value) if isinstance(value, list) else value


def _coerce(values: dict) -> dict:
    """YAML lists and CLI lists become tuples, as the frozen dataclass wants."""
    return {k: _flatten(v) for k, v in values.items()}


def config_from_args(argv: list[str] | None = None, prog: str = "ringmo pretrain") -> PretrainConfig:
    """Defaults, overridden by ``--config FILE``, overridden by flags."""
    args = vars(build_parser(prog).parse_args(argv))
    values: dict = {}
    path = args.pop("config", None)
    if path:
        values.update(yaml.safe_load(Path(path).read_text()) or {})
    values.update(args)
    known = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown}")
    return PretrainConfig(**_coerce(values))


def to_dict(cfg: PretrainConfig) -> dict:
    """Plain types only (lists for tuples): for YAML and for ``weights_only`` checkpoints."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def query_of(cfg: PretrainConfig):
    """The ``catalogs.query.Query`` of the config's catalog filters."""
    from catalogs.query import Query

    names = {f.name for f in dataclasses.fields(Query)}
    return Query(**{k: getattr(cfg, k) for k in names if hasattr(cfg, k)})

