"""Dense labels of a build (``--task segmentation|change``): which mask and second date go with
which image, and the class list.

Images are matched to label files by file stem, the layout of every common dataset:
mmsegmentation ``img_dir/`` + ``ann_dir/`` (Potsdam, Vaihingen, LoveDA, iSAID), LEVIR-CD and
DSIFN ``A/`` (``t1/``), ``B/`` (``t2/``), ``label/`` (``mask/``), even with other extensions
(DSIFN: ``.jpg`` images, ``.png``/``.tif`` masks). The relative path under the input folder is
tried first, then the stem, then the stem less its last ``_word`` on either side (ISPRS
Potsdam: ``top_potsdam_2_10_RGB.tif`` ~ ``top_potsdam_2_10_label.tif``). A single label file
(a georeferenced raster, or GeoJSON / GeoPackage / Shapefile polygons) serves every image. An
image without a label is recorded as a rejected input, as in classification builds.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from pathlib import Path

import yaml

from catalogs.errors import ConfigError
from pipeline.dense import IGNORE, TASKS, LabelSpec, SceneLabels
from pipeline.scene import SourceRef

_SIDECARS = (".aux.xml", ".ovr", ".md", ".txt", ".prj", ".dbf", ".shx", ".cpg", ".qix", ".tfw", ".jgw",
             ".pgw", ".wld", ".xml", ".yaml", ".yml", ".csv")
CHANGE_CLASSES = ("no_change", "change")
# Folder names that settle a tie when one root holds several candidates of the same stem
# (LEVIR-CD's root holds train/B/train_1.png and train/label/train_1.png)
MASK_FOLDERS = ("label", "labels", "mask", "masks", "gt", "gts", "ann", "ann_dir", "annotations", "masks_png", "cm")
PAIR_FOLDERS = ("b", "t2", "time2", "im2", "post", "after", "b_dir")


def _base(stem: str) -> str:
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


class FileIndex:
    """The files under a folder, looked up by relative path, stem, or stem less a suffix word."""

    def __init__(self, folder: str, exclude: tuple[str, ...] = ()):
        """``exclude``: folders not indexed (the image inputs, when the label folder holds them:
        LoveDA ``Train/`` with ``images_png/`` beside ``masks_png/``)."""
        self.folder = folder
        self.by_key: dict[str, list[str]] = defaultdict(list)
        skip = {os.path.abspath(e) for e in exclude}
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.abspath(os.path.join(root, d))
                             not in skip)
            for name in sorted(files):
                if name.startswith(".") or name.lower().endswith(_SIDECARS):
                    continue
                path = os.path.join(root, name)
                rel = os.path.splitext(os.path.relpath(path, folder))[0].replace(os.sep, "/")
                stem = Path(name).stem
                for key in (f"rel:{rel}", f"stem:{stem}", f"base:{_base(stem)}"):
                    self.by_key[key].append(path)

    def find(self, rel: str, image: str = "", prefer: tuple[str, ...] = ()) -> str | None:
        """The one file matching an image's relative path (without suffix); None if none or many.

        Ties are settled by a folder named in ``prefer``, then by the folders the image's own
        path shares (``train/`` of ``train/A/x.png`` over ``test/``).
        """
        stem = rel.rsplit("/", 1)[-1]
        for key in (f"rel:{rel}", f"stem:{stem}", f"base:{stem}", f"base:{_base(stem)}"):
            found = self.by_key.get(key, [])
            if len(found) > 1:
                found = _settle(found, image, prefer)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                return None
        return None


def _folders(path: str) -> set[str]:
    return {part.lower() for part in Path(path).parts[:-1]}


def _settle(found: list[str], image: str, prefer: tuple[str, ...]) -> list[str]:
    """The candidates in a preferred folder (if any are), then those sharing most of the image's."""
    preferred = [f for f in found if _folders(f) & set(prefer)]
    found = preferred or found
    if len(found) > 1 and image:
        shared = [len(_folders(f) & _folders(image)) for f in found]
        found = [f for f, n in zip(found, shared) if n == max(shared)]
    return found


def _relative(uri: str, roots: list[str]) -> str:
    path = os.path.abspath(uri)
    for root in roots:
        root = os.path.abspath(root)
        if os.path.isdir(root) and path.startswith(root + os.sep):
            return os.path.splitext(os.path.relpath(path, root))[0].replace(os.sep, "/")
    return Path(uri).stem


def _class_entries(path: str) -> list:
    text = Path(path).read_text()
    if path.lower().endswith((".yaml", ".yml", ".json")):
        loaded = json.loads(text) if path.lower().endswith(".json") else yaml.safe_load(text)
        if isinstance(loaded, dict) and "classes" in loaded:
            loaded = loaded["classes"]
        if isinstance(loaded, dict):  # {name: value}
            return [{"name": str(k), "value": v} for k, v in loaded.items()]
        if isinstance(loaded, list):
            return loaded
        raise ConfigError(f"{path}: expected a list of classes or a {{name: value}} mapping")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def read_classes(path: str | None, task: str, attribute: str = "class") -> LabelSpec:
    """The ``LabelSpec`` of a build: class names (index = position), raw values and colours.

    Entries are names, or ``{name, value, color}`` (``value``: the raw pixel value or vector
    attribute of the class in the label files, default its position; ``color``: ``[r, g, b]`` in
    colour-coded masks). Without a file, segmentation masks hold class indexes already (names
    are the indexes, found at the end of the build).
    """
    if task == "change":
        return LabelSpec(classes=CHANGE_CLASSES, binary=True, attribute=attribute, background=0)
    if not path:
        return LabelSpec(attribute=attribute)
    names, values, colors, raw_names = [], [], [], []
    for position, entry in enumerate(_class_entries(path)):
        entry = {"name": entry} if not isinstance(entry, dict) else entry
        if "name" not in entry:
            raise ConfigError(f"{path}: class entry {entry} has no name")
        name, value = str(entry["name"]), entry.get("value", position)
        if not 0 <= int(value) < IGNORE:
            raise ConfigError(f"{path}: class {name!r} value {value} is outside 0..254 (255 is ignore)")
        names.append(name)
        values.append((int(value), position))
        raw_names += [(name, position), (str(value), position)]
        if entry.get("color") is not None:
            colors.append((tuple(int(c) for c in entry["color"]), position))
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: class names repeat")
    background = names.index("background") if "background" in names else IGNORE
    return LabelSpec(classes=tuple(names), values=tuple(values), colors=tuple(colors), names=tuple(raw_names),
                     attribute=attribute, background=background)


@dataclasses.dataclass
class DenseMatcher:
    """Finds each image's mask (and second date) for one build's ``--masks`` / ``--pair``."""

    task: str
    masks: str
    spec: LabelSpec
    roots: list[str]
    pair: str | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"--task must be one of {TASKS}, got {self.task!r}")
        if not self.masks:
            raise ConfigError(f"--task {self.task} needs --masks (a folder of label rasters or one label file)")
        if self.task == "change" and not self.pair:
            raise ConfigError("--task change needs --pair B_DIR (the second-date images)")
        for what, path in (("--masks", self.masks), ("--pair", self.pair)):
            if path and not os.path.exists(path):
                raise ConfigError(f"{what} {path}: no such file or folder")
        inputs = tuple(r for r in self.roots if os.path.isdir(r))
        self._masks = FileIndex(self.masks, inputs + ((self.pair,) if self.pair else ())) \
            if os.path.isdir(self.masks) else None
        self._pairs = FileIndex(self.pair, inputs + (self.masks,)) if self.pair and os.path.isdir(self.pair) else None

    def labels_for(self, uri: str) -> tuple[SceneLabels | None, str | None]:
        """``(labels, None)`` or ``(None, problem)`` for one image."""
        rel = _relative(uri, self.roots)
        mask = self._masks.find(rel, uri, MASK_FOLDERS) if self._masks else self.masks
        if mask is None:
            return None, f"no mask for this image in {self.masks} (matched by file stem)"
        pair = None
        if self.task == "change":
            pair = self._pairs.find(rel, uri, PAIR_FOLDERS) if self._pairs else self.pair
            if pair is None:
                return None, f"no second-date image for this image in {self.pair} (matched by file name)"
        return SceneLabels(self.task, os.path.abspath(mask), self.spec,
                           os.path.abspath(pair) if pair else None), None


def matcher_for(config) -> DenseMatcher | None:
    """The matcher of a ``BuildConfig`` with ``task`` set, else None."""
    if config.task not in TASKS:  # no task, or a task of whole-sample labels (classification, detection)
        if config.masks or config.pair:
            raise ConfigError("--masks and --pair need --task segmentation or --task change")
        return None
    if config.labels:
        raise ConfigError("--labels (scene classes) and --task (dense labels) do not combine")
    spec = read_classes(config.classes, config.task, config.class_attribute)
    return DenseMatcher(config.task, config.masks, spec, list(config.inputs), config.pair)


def attach_dense(refs: list[SourceRef], config) -> tuple[list[SourceRef], list[tuple[str, str]]]:
    """Inputs that have their labels, and ``(uri, problem)`` for those that lack them."""
    matcher = matcher_for(config)
    if matcher is None:
        return refs, []
    kept, problems = [], []
    for ref in refs:
        _, problem = matcher.labels_for(ref.uri)
        if problem:
            problems.append((ref.uri, problem))
        else:
            kept.append(ref)
    return kept, problems


def manifest_classes(spec: LabelSpec, class_pixels: list) -> list[str]:
    """Class names for the manifest: the given list, else the indexes the masks hold."""
    if spec.classes:
        return list(spec.classes)
    width = max((len(c) for c in class_pixels if c is not None), default=0)
    return [str(i) for i in range(width)]
