"""``BuildConfig``: every setting of ``ringmo build`` (and ``ringmo curate``) in one place.

Each field is the one declaration of its setting: YAML key, CLI flag, help text (field
metadata, see ``catalogs.options``) and default. Where a pipeline stage has its own config, the
default is read from it, so a default is owned once, by the stage that uses it:

- ``dedup_distance`` 10 pHash bits (``pipeline.dedup.DedupConfig``: on textured tiles re-encoding,
  brightness and resizing move a pHash by <= 4 bits and a 1-3 % crop by <= 10, while unrelated
  images are >= 18 apart);
- ``h3_resolution`` 5 (``pipeline.balance.BalanceConfig``: ~250 km² cells, the scale of a
  city district, so balancing flattens heavily imaged places, not streets);
- ``split`` 0.8/0.1/0.1 (``pipeline.split.SplitConfig``: splits are drawn by ~12,000 km²
  blocks, so a small corpus needs a 10 % share for val and test to get any block at all).

Fields marked ``fixed`` decide the staged candidates (changing them needs a new corpus);
curation and packing fields can be changed later with ``ringmo curate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalogs.errors import ConfigError
from catalogs.options import fixed_fields, option
from pipeline.balance import BalanceConfig
from pipeline.dedup import DedupConfig
from pipeline.encode import FORMATS as ENCODINGS
from pipeline.quality import QualityConfig
from pipeline.shards import PackConfig
from pipeline.split import SplitConfig
from pipeline.tiler import TileConfig

TILING, CURATION, PACKING = "tiling", "curation", "packing and engine"
FORMATS = ("auto", *ENCODINGS)

TASKS = ("classification", "segmentation", "change", "detection")  # of labeled builds


@dataclass(frozen=True)
class BuildConfig:
    """Settings of a corpus build. YAML keys and CLI flags map onto these names."""

    inputs: tuple[str, ...] = option((), "directories, list files, STAC items, globs or URIs", cli=False)
    corpus: str = option("", "the corpus to write: a directory or an fsspec URL", cli=False)
    # tiling
    tile_size: int = option(256, "tile size in sample pixels", group=TILING, fixed=True)
    stride: int | None = option(None, "tile stride in sample pixels (default: tile size)", group=TILING, fixed=True)
    gsd: float | None = option(None, "resample to this GSD in metres (default: each scene's own)", group=TILING,
                               fixed=True)
    edge: str = option("drop", "partial edge tiles: pad, drop, or shift the last window inside (DOTA)",
                       group=TILING, choices=("pad", "drop", "shift"), fixed=True)
    format: str = option("auto", "sample encoding (auto: png for uint8 grey or RGB, else npy.zst, chosen by "
                         "benchmarks/codecs.py)",
                         group=TILING, choices=FORMATS, fixed=True)
    jpeg_quality: int = option(TileConfig.jpeg_quality, "JPEG quality of jpg samples", cli=False, fixed=True)
    min_valid_frac: float = option(QualityConfig.min_valid_frac, "reject tiles with less valid data", cli=False,
                                   fixed=True)
    min_std: float = option(QualityConfig.min_std, "reject flatter tiles (8-bit units)", cli=False, fixed=True)
    min_entropy: float = option(QualityConfig.min_entropy, "reject tiles of lower entropy (bits)", cli=False,
                                fixed=True)
    max_cloud: float = option(QualityConfig.max_cloud, "tiles more cloudy than this fraction get status cloud",
                              group=TILING, fixed=True)
    max_upsample: float = option(TileConfig.max_upsample, "refuse a --gsd that upsamples a scene more than this "
                                 "(scene status too_coarse)", group=TILING, fixed=True)
    sensors: tuple[dict, ...] = option((), "sensor rules (see pipeline.sensors); empty = built-in rules",
                                       cli=False, fixed=True)
    stac_assets: tuple[str, ...] = option(("visual", "data", "image"), "STAC asset keys read, in order",
                                          cli=False, fixed=True)
    group_bands: bool = option(True, "stack the per-band files of one product (B1..B7, VV/VH) into one scene",
                               group=TILING, fixed=True)
    labels: str | None = option(None, "from-folders, or a CSV/Parquet of (uri, label)", group=TILING, fixed=True)
    whole_image: bool | None = option(None, "one sample per input image (default with --labels unless --tile-size)",
                                      group=TILING, fixed=True)
    resize: int | None = option(None, "whole-image samples: resize to this side (default: keep)", group=TILING,
                                fixed=True)
    task: str | None = option(None, "labeled task: segmentation (--masks), change (--pair and --masks), or "
                              "detection (--labels: a folder of DOTA .txt / VOC .xml files, a COCO .json or a vector "
                              "file; images kept whole (DIOR) unless --tile-size, DOTA: --tile-size 1024 --stride 824 "
                              "--edge shift); default: none (scene classes with --labels)", group=TILING,
                              choices=("segmentation", "change", "detection"), fixed=True)
    masks: str | None = option(None, "segmentation/change labels: a folder of label rasters matched to the images "
                               "by file stem (mmsegmentation ann_dir, LEVIR-CD label/), one georeferenced label "
                               "raster, or vector labels (GeoJSON, GeoPackage, Shapefile) rasterized onto each tile",
                               group=TILING, fixed=True)
    pair: str | None = option(None, "change detection: folder of the second-date images, matched to the inputs by "
                              "file name (LEVIR-CD B/)", group=TILING, fixed=True)
    classes: str | None = option(None, "segmentation class list: a text file of names (one per line, index = line) "
                                 "or YAML/JSON entries {name, value, color}; 255 is ignore", group=TILING, fixed=True)
    class_attribute: str = option("class", "vector labels: the attribute holding each polygon's class (name or "
                                  "value)", group=TILING, fixed=True)
    min_inside: float = option(0.7, "detection: an object clipped by a tile is kept when at least this fraction of "
                               "its area is inside, else marked truncated (DOTA: 0.7)", group=TILING, fixed=True)
    label_field: str | None = option(None, "detection with vector labels: the class attribute (default: the first "
                                     "of class, label, category, name, type)", group=TILING, fixed=True)
    # curation
    dedup_distance: int = option(DedupConfig.max_distance, "near-duplicate Hamming radius (pHash bits)",
                                 group=CURATION)
    dedup_across_places: bool = option(False, "also merge look-alikes whose footprints do not intersect",
                                       group=CURATION)
    rotation_invariant: bool = option(False, "also merge near-duplicates rotated by 90, 180 or 270 degrees",
                                      group=CURATION)
    h3_resolution: int = option(BalanceConfig.h3_resolution, "H3 resolution of the cells tiles are balanced over",
                                group=CURATION)
    alpha: float = option(BalanceConfig.alpha, "balance temperature: 1 natural, 0 uniform", group=CURATION)
    target_size: int | None = option(None, "keep at most this many tiles", group=CURATION)
    max_per_scene: int | None = option(None, "keep at most this many tiles of one scene", group=CURATION)
    split: tuple[float, float, float] = option((SplitConfig.train, SplitConfig.val, SplitConfig.test),
                                               "train,val,test fractions", group=CURATION)
    split_block_resolution: int = option(SplitConfig.block_resolution, "H3 resolution of the blocks splits are "
                                         "drawn by", cli=False)
    split_by: str | None = option(None, "what splits are drawn by: block (H3 blocks, or scenes when not "
                                  "georeferenced), scene (each source image whole), folders (a train/val/test folder "
                                  "in the image path: a dataset's official split); default: scene for --task builds, "
                                  "else block", group=CURATION, choices=("block", "scene", "folders"))
    # packing
    shard_max_mb: int = option(PackConfig.max_bytes // 2**20, "a shard closes before it passes this many MiB",
                               group=PACKING)
    shard_max_count: int = option(PackConfig.max_count, "a shard closes at this many samples", group=PACKING)
    seed: int = option(0, "seed of dedup, balancing, splits and shard order", group=PACKING)
    # engine
    scheduler: str | None = option(None, "tcp://HOST:PORT of a Dask scheduler, or 'sync'", group=PACKING)
    workers: int | None = option(None, "local cluster worker processes (default: cores)", group=PACKING)
    # what happens to what is already there
    keep_staging: bool = option(False, "keep the staged bytes of kept tiles too (default: a finished build keeps in "
                                "staging only the tiles curation set aside; the shards hold the others)", group=PACKING)
    overwrite: bool = option(False, "replace an existing corpus built from other inputs or tiling settings",
                             group=PACKING, commands=("build",))

    def __post_init__(self) -> None:
        """Refuse values no build can mean, naming the flag (before any file is written)."""
        positive = {"tile_size": self.tile_size, "stride": self.stride, "gsd": self.gsd, "resize": self.resize,
                    "target_size": self.target_size, "max_per_scene": self.max_per_scene,
                    "shard_max_mb": self.shard_max_mb, "shard_max_count": self.shard_max_count,
                    "workers": self.workers}
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise ConfigError(_flag(name), f"must be > 0, got {value}")
        if len(self.split) != 3 or min(self.split) < 0 or sum(self.split) <= 0:
            raise ConfigError("--split", f"takes three fractions train,val,test (>= 0, positive sum), got "
                              f"{','.join(map(str, self.split))}")
        if self.dedup_distance < 0 or not 0 <= self.h3_resolution <= 15:
            raise ConfigError("--dedup-distance/--h3-resolution", "need a distance >= 0 and an H3 resolution in 0..15")
        if self.task is not None and self.task not in TASKS:
            raise ConfigError("--task", f"must be one of {TASKS}, got {self.task!r}")
        if self.task == "detection" and not self.labels:
            raise ConfigError("--task detection", "needs --labels ANNOTATIONS (DOTA/VOC folder, COCO json or vector "
                              "file)")
        if not 0.0 < self.min_inside <= 1.0:
            raise ConfigError("--min-inside", f"must be in (0, 1], got {self.min_inside}")

    def detection(self) -> bool:
        return self.task == "detection"

    def tiling_fields(self) -> dict:
        """The settings that decide the staged candidates (a corpus keeps them for life)."""
        return {name: getattr(self, name) for name in fixed_fields(BuildConfig)}

    def whole(self) -> bool:
        """Whether each input image is one sample (the default of labeled builds) or is tiled."""
        return self.whole_image if self.whole_image is not None else bool(self.labels)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
