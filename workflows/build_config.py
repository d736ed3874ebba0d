"""``BuildConfig``: every setting of ``ringmo build`` (and ``ringmo curate``) in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from catalogs.errors import ConfigError

TASKS = ("classification", "segmentation", "change", "detection")  # of labeled builds


@dataclass(frozen=True)
class BuildConfig:
    """Settings of a corpus build. YAML keys and CLI flags map onto these names.

    Tiling fields decide the candidates (changing them needs a new corpus); curation and
    packing fields can be changed later with ``ringmo curate``.
    """

    inputs: tuple[str, ...] = ()
    corpus: str = ""
    # tiling
    tile_size: int = 256
    stride: int | None = None
    gsd: float | None = None  # target metres per pixel; None keeps each scene's own GSD
    edge: str = "drop"  # pad | drop partial tiles at scene edges | shift the last window inside (DOTA)
    format: str = "auto"  # auto | png | jpg | webp | npy | tif
    jpeg_quality: int = 95
    min_valid_frac: float = 0.9
    min_std: float = 2.0
    min_entropy: float = 1.5
    sensors: tuple[dict, ...] = ()  # sensor rules (see pipeline.sensors); empty = built-in rules
    stac_assets: tuple[str, ...] = ("visual", "data", "image")
    group_bands: bool = True  # per-band files of one product (B1..B7, VV/VH) become one multiband scene
    labels: str | None = None  # from-folders | CSV/Parquet of (uri, label); None = unlabeled
    whole_image: bool | None = None  # one sample per input image; None: on for labeled builds
    resize: int | None = None  # whole-image samples resized to resize x resize; None keeps the size
    task: str | None = field(default=None, metadata={"help": (
        "labeled task: segmentation (--masks), change (--pair and --masks), or detection (--labels: a folder of "
        "DOTA .txt / VOC .xml files, a COCO .json or a vector file; images kept whole (DIOR) unless --tile-size, "
        "DOTA: --tile-size 1024 --stride 824 --edge shift); default: none (scene classes with --labels)")})
    masks: str | None = field(default=None, metadata={"help": (
        "segmentation/change labels: a folder of label rasters matched to the images by file stem "
        "(mmsegmentation ann_dir, LEVIR-CD label/), one georeferenced label raster, or vector labels "
        "(GeoJSON, GeoPackage, Shapefile) rasterized onto each tile")})
    pair: str | None = field(default=None, metadata={"help": (
        "change detection: folder of the second-date images, matched to the inputs by file name (LEVIR-CD B/)")})
    classes: str | None = field(default=None, metadata={"help": (
        "segmentation class list: a text file of names (one per line, index = line) or YAML/JSON "
        "entries {name, value, color}; 255 is ignore")})
    class_attribute: str = field(default="class", metadata={"help": (
        "vector labels: the attribute holding each polygon's class (name or value)")})
    min_inside: float = field(default=0.7, metadata={"help": (
        "detection: an object clipped by a tile is kept when at least this fraction of its area is inside, "
        "else marked truncated (DOTA: 0.7)")})
    label_field: str | None = field(default=None, metadata={"help": (
        "detection with vector labels: the class attribute (default: the first of class, label, category, "
        "name, type)")})
    # curation
    dedup_distance: int = 8
    dedup_across_places: bool = False  # also merge look-alikes whose footprints do not intersect
    rotation_invariant: bool = False
    h3_resolution: int = 6
    alpha: float = 0.5  # temperature: 1 keeps the natural distribution, 0 is uniform over cells
    target_size: int | None = None
    max_per_scene: int | None = None
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)  # train, val, test
    split_block_resolution: int = 3  # H3 resolution of the blocks that splits are drawn by
    split_by: str | None = field(default=None, metadata={"help": (
        "what splits are drawn by: block (H3 blocks, or scenes when not georeferenced), scene (each source image "
        "whole), folders (a train/val/test folder in the image path: a dataset's official split); default: scene "
        "for --task builds, else block")})
    # packing
    shard_max_mb: int = 256
    shard_max_count: int = 10_000
    seed: int = 0
    # engine
    scheduler: str | None = None  # None: a local cluster; tcp://host:8786; sync: in-process
    workers: int | None = None
    # what happens to what is already there (build only)
    overwrite: bool = False  # replace a corpus built from other inputs or tiling settings
    keep_staging: bool = False  # keep every staged candidate (default: only what curate needs)

    def __post_init__(self):
        if self.task is not None and self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "detection" and not self.labels:
            raise ConfigError("--task detection needs --labels ANNOTATIONS (DOTA/VOC folder, COCO json or "
                              "vector file)")
        if not 0.0 < self.min_inside <= 1.0:
            raise ConfigError(f"min_inside must be in (0, 1], got {self.min_inside}")

    def detection(self) -> bool:
        return self.task == "detection"

    def tiling_fields(self) -> dict:
        """The settings that decide the staged candidates (a corpus keeps them for life)."""
        names = ("tile_size", "stride", "gsd", "edge", "format", "jpeg_quality", "min_valid_frac",
                 "min_std", "min_entropy", "sensors", "stac_assets", "group_bands", "labels", "whole_image",
                 "resize", "task", "masks", "pair", "classes", "class_attribute", "min_inside", "label_field")
        return {name: getattr(self, name) for name in names}

    def whole(self) -> bool:
        """Whether each input image is one sample (the default of labeled builds) or is tiled."""
        return self.whole_image if self.whole_image is not None else bool(self.labels)
