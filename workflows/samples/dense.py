"""Sample dense sets from the scene renderer's own layers: segmentation and change detection.

Segmentation (mmsegmentation layout ``img_dir/`` + ``ann_dir/`` + ``classes.txt``): a town
drawn by ``terrain`` (grass ground, tree canopy, a river, through-roads, city blocks) painted
with ``render``'s materials; the mask is the layer that was painted last at each pixel, so it
is exact by construction. Change detection (LEVIR-CD layout ``A/``, ``B/``, ``label/``, labels
{0, 255}): the same ground twice with buildings added and removed between the dates and a small
radiometric difference (another day's light), the label marking the roofs that changed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from workflows.samples import terrain
from workflows.samples.noise import fractal_noise
from workflows.samples.render import mat, paint, to_rgb8

SEG_CLASSES = ("background", "building", "road", "water", "vegetation")


def _ground(shape, rng) -> np.ndarray:
    img = np.zeros((*shape, 5), np.float32)
    paint(img, np.ones(shape, np.float32), mat("grass"), 0.85 + 0.3 * fractal_noise(shape, rng, cells=6, octaves=3))
    return img


def _town_layers(shape, rng) -> dict[str, np.ndarray]:
    """Binary layers (float 0/1) of one scene, from the terrain generators."""
    h, w = shape
    blocks = terrain.city_blocks(shape, rng, block_px=40, street_px=5, lot_px=14, angle=rng.uniform(0, 90),
                                 dense=False, fill=0.7, shadow_px=2)
    trees = terrain.canopy(shape, rng, crown_px=6, density=0.25)["cover"]
    water = terrain.river(shape, rng, width_px=max(6, h // 12), angle=rng.uniform(0, 180))["water"]
    road = terrain.roads(shape, rng, 1, width_px=5)["road"]
    return {"vegetation": (trees > 0.5).astype(np.float32), "building": blocks["roof"],
            "road": np.maximum(road, blocks["street"]) > 0.5, "water": (water > 0.5).astype(np.float32)}


def render_segmentation(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb [S, S, 3] uint8, mask [S, S] uint8)`` with mask indexes into ``SEG_CLASSES``."""
    shape = (size, size)
    img, layers = _ground(shape, rng), _town_layers(shape, rng)
    mask = np.zeros(shape, np.uint8)
    order = (("vegetation", "tree"), ("road", "asphalt"), ("building", "tile"), ("water", "water"))
    for name, material in order:  # later layers cover earlier ones, in the image and the mask
        layer = np.asarray(layers[name], np.float32)
        paint(img, layer, mat(material), 0.9 + 0.2 * rng.random())
        mask[layer > 0.5] = SEG_CLASSES.index(name)
    return to_rgb8(img, rng), mask


def _houses(shape, rng, count: int) -> list[tuple[int, int, int, int]]:
    h, w = shape
    boxes = []
    for _ in range(count):
        bh, bw = int(rng.integers(6, 14)), int(rng.integers(6, 14))
        boxes.append((int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw)), bh, bw))
    return boxes


def render_change(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, label)``: two dates of one place; label 255 where a building appeared or went."""
    shape = (size, size)
    ground = _ground(shape, rng)
    layers = _town_layers(shape, rng)
    paint(ground, layers["vegetation"], mat("tree"))
    paint(ground, np.asarray(layers["road"], np.float32), mat("asphalt"))
    houses = _houses(shape, rng, max(4, size * size // 600))
    before = rng.random(len(houses)) < 0.6
    after = before.copy()
    flip = rng.random(len(houses)) < 0.5  # about half of the houses change
    after[flip] = ~after[flip]
    dates, label = [], np.zeros(shape, np.uint8)
    for present in (before, after):
        img = ground.copy()
        for (y, x, bh, bw), here in zip(houses, present):
            if here:
                roof = np.zeros(shape, np.float32)
                roof[y:y + bh, x:x + bw] = 1
                paint(img, roof, mat("concrete"))
        dates.append(img)
    for (y, x, bh, bw), was, now in zip(houses, before, after):
        if was != now:
            label[y:y + bh, x:x + bw] = 255
    light = 0.92 + 0.16 * rng.random()
    a = to_rgb8(dates[0], rng)
    b = to_rgb8(dates[1] * np.float32(light), rng)
    return a, b, label


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return path


def write_segmentation_set(out_dir: Path, *, count: int = 8, size: int = 128, seed: int = 0) -> list[Path]:
    """``img_dir/NAME.png`` + ``ann_dir/NAME.png`` per scene and ``classes.txt``."""
    out_dir = Path(out_dir)
    written = []
    for i in range(count):
        image, mask = render_segmentation(size, np.random.default_rng([seed, i, 1]))
        written += [_write(out_dir / "img_dir" / f"scene_{i:03d}.png", image),
                    _write(out_dir / "ann_dir" / f"scene_{i:03d}.png", mask)]
    classes = out_dir / "classes.txt"
    classes.write_text("\n".join(SEG_CLASSES) + "\n")
    return [*written, classes]


def write_change_set(out_dir: Path, *, count: int = 8, size: int = 128, seed: int = 0) -> list[Path]:
    """``A/NAME.png``, ``B/NAME.png`` and ``label/NAME.png`` ({0, 255}) per place."""
    out_dir = Path(out_dir)
    written = []
    for i in range(count):
        a, b, label = render_change(size, np.random.default_rng([seed, i, 2]))
        for folder, array in (("A", a), ("B", b), ("label", label)):
            written.append(_write(out_dir / folder / f"place_{i:03d}.png", array))
    return written
