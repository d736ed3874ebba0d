"""``PretrainConfig``: one frozen dataclass for a pretraining run; CLI > YAML file > defaults.

The argparse parser is generated from the fields (flag names, types and help live next to the
field, see ``catalogs.options``), so ``ringmo pretrain`` and ``torchrun -m training.pretrain``
accept the same flags. The catalog filters are inherited from ``catalogs.query.Query``, so they
are the ``ringmo query`` ones: ``--bbox --antimeridian --polygon --sensor --gsd-min --gsd-max
--date-from --date-to --split --min-quality --label --limit``. Fields marked ``fixed`` (and the
whole selection, which decides the sample order) cannot change when a run resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from catalogs.errors import ConfigError
from catalogs.options import add_options, fixed_fields, load_config, option, values_from
from catalogs.query import Query

__all__ = ["PretrainConfig", "build_parser", "config_from_args", "option", "query_of", "resume_fixed", "to_dict"]


@dataclass(frozen=True)
class PretrainConfig(Query):
    """A pretraining run: the selection (``Query``'s fields) plus model, objective, optimizer, data."""

    out: str = option("", "run directory (checkpoints, metrics, pictures); rerun it to resume")
    corpus: str | None = option(None, "corpus root or URL: train on its catalog (filters apply)", fixed=True)
    shards: tuple[str, ...] = option((), "shard URLs/patterns instead of a corpus (brace, glob, http, pipe:)",
                                   flag="--shards", repeat=True, fixed=True)
    # model and objective
    model: str = option("swin_base", "encoder: swin_base (RingMo), swin_tiny, vit_base, vit_tiny, swin_nano, vit_nano", fixed=True)
    img_size: int | None = option(None, "input size (default: the model's)", fixed=True)
    mask: str = option("pimask", "mask kind: pimask (RingMo), simmim, random", fixed=True)
    mask_patch: int | None = option(None, "mask patch side in pixels (default: the model's: 32 as RingMo, 16 for the "
                                          "64 px nano models)", fixed=True)
    mask_ratio: float = option(0.6, "fraction of mask patches picked (of pixels for random)", fixed=True)
    pixel_ratio: float = option(0.6, "fraction of pixels masked inside a picked patch (pimask)", fixed=True)
    norm_target: bool = option(False, "L1 against a per-mask-patch normalized target", fixed=True)
    embed: str = option("auto", "input per band layout: layout (a patch embedding each), wavelength (generated from "
                                "each band's wavelength, DOFA-style), auto (one layout: timm's own; several: layout)",
                         fixed=True)
    # optimization (RingMo / SimMIM recipe)
    steps: int = option(1000, "optimizer steps in total (rerun with more to continue)")
    batch_size: int = option(32, "samples per rank per micro-batch", fixed=True)
    accum: int = option(1, "micro-batches per optimizer step", fixed=True)
    base_lr: float = option(1e-4, "learning rate per 512 samples of total batch")
    lr_floor: float = option(1.4e-3, "peak lr at least LR_FLOOR * sqrt(total batch / steps), so short small-batch "
                                     "runs learn (0: RingMo's linear rule alone)")
    min_lr: float = option(5e-7, "cosine floor")
    warmup_lr: float = option(5e-7, "learning rate at step 0")
    warmup_steps: int | None = option(None, "warmup steps (default 10% of steps)")
    weight_decay: float = option(0.05, "AdamW weight decay")
    beta1: float = option(0.9, "AdamW beta1")
    beta2: float = option(0.999, "AdamW beta2")
    clip_grad: float = option(5.0, "gradient norm clip (0: off)")
    max_bad_steps: int = option(5, "consecutive non-finite-loss steps (each skipped) before the run stops (0: never)")
    # data
    seed: int = option(0, "seed of the sample order, augmentations, masks and the model init", fixed=True)
    layout_alpha: float = option(1.0, "band layouts' shares of the batches ~ samples ** alpha (1: natural, "
                                      "0: uniform)", fixed=True)
    shuffle_buffer: int = option(1000, "shuffle buffer in samples", fixed=True)
    resampled: bool = option(False, "draw shards with replacement per rank (very large corpora)", fixed=True)
    epoch_samples: int | None = option(None, "samples per epoch over all ranks (default: all selected)", fixed=True)
    scale_min: float = option(0.67, "RandomResizedCrop minimum area fraction", fixed=True)
    rot90: bool = option(True, "random 90-degree rotations", fixed=True)
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
    log_every: int = option(10, "steps between metric lines (each line's loss is the mean over its steps)")
    image_every: int = option(500, "steps between reconstruction pictures (0: only at the end)")
    progress: bool = option(True, "progress bar on rank 0")
    log_keys: bool = option(False, "record every batch's sample keys per rank (audits)")
    stop_after: int | None = option(None, "testing: stop after this step without a final checkpoint, as a kill")

    def __post_init__(self) -> None:
        super().__post_init__()  # the selection is checked as ringmo query checks it
        if not self.out:
            raise ConfigError("--out", "required (the run directory)")
        if (self.corpus is None) == (not self.shards):
            raise ConfigError("--corpus/--shards", "give exactly one of --corpus or --shards")
        if self.batch_size < 1 or self.accum < 1 or self.steps < 1:
            raise ConfigError("--steps/--batch-size/--accum", "steps, batch size and accumulation must be >= 1")
        if self.max_bad_steps < 0:
            raise ConfigError("--max-bad-steps", "max_bad_steps must be >= 0")
        if self.mask_patch is None:  # resolved here, so checkpoints and resume checks see the value
            from training.models import model_spec

            object.__setattr__(self, "mask_patch", model_spec(self.model).mask_patch)


def resume_fixed() -> tuple[str, ...]:
    """Settings a resumed run must keep: the fields marked ``fixed`` and the whole selection
    (both decide the replayed data order or the model)."""
    return fixed_fields(PretrainConfig) + tuple(f.name for f in dataclasses.fields(Query))


def build_parser(prog: str = "ringmo pretrain") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Streaming MIM pretraining (RingMo: PIMask + SimMIM).")
    parser.add_argument("--config", help="flat YAML file of these options (flags override it)")
    add_options(parser, PretrainConfig)
    return parser


def config_from_args(argv: list[str] | None = None, prog: str = "ringmo pretrain") -> PretrainConfig:
    """Defaults, overridden by ``--config FILE``, overridden by flags."""
    args = build_parser(prog).parse_args(argv)
    return load_config(PretrainConfig, args.config, **values_from(args, PretrainConfig))


def to_dict(cfg: PretrainConfig) -> dict:
    """Plain types only (lists for tuples): for YAML and for ``weights_only`` checkpoints."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def query_of(cfg: PretrainConfig) -> Query:
    """The ``catalogs.query.Query`` of the config's catalog filters."""
    names = {f.name for f in dataclasses.fields(Query)}
    return Query(**{k: getattr(cfg, k) for k in names if hasattr(cfg, k)})

