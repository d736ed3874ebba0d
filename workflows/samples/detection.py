"""A small detection set: aerial-like images with vehicles and buildings as rotated rectangles.

Each image ``IMAGES/P{n:04d}.png`` has a DOTA ``labelTxt`` beside it in ``LABELS/P{n:04d}.txt``
(``imagesource:``/``gsd:`` header, then ``x1 y1 ... x4 y4 class difficult``), so the builder
reads it exactly as it reads DOTA. Objects are drawn where their boxes say (known boxes, no
annotation noise), at any angle, never overlapping; one in ten is marked difficult. Vehicles
are small bright oblongs with a darker windscreen (their direction is visible); buildings are
larger roofs with a ridge line and a shadow on one side.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import shapely

from workflows.samples.noise import fractal_noise

CLASSES = ("vehicle", "building")


def _corners(cx, cy, w, h, angle) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    local = np.array([(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)])
    return local @ np.array([[c, s], [-s, c]]) + (cx, cy)  # [4, 2] x right, y down


def _place(rng, size, taken: list, cls: str, scale: float):
    """A rotated box for ``cls`` that overlaps no earlier one, or None after a few tries."""
    for _ in range(30):
        if cls == "vehicle":
            w, h = rng.uniform(9, 14) * scale, rng.uniform(5, 7) * scale
        else:
            w, h = rng.uniform(22, 40) * scale, rng.uniform(16, 28) * scale
        cx, cy = rng.uniform(w / 2, size - w / 2), rng.uniform(h / 2, size - h / 2)
        corners = _corners(cx, cy, w, h, rng.uniform(-math.pi / 2, math.pi / 2))
        polygon = shapely.Polygon(corners)
        inside = corners.min() >= 1 and corners.max() <= size - 1
        if inside and all(not polygon.buffer(2).intersects(other) for other in taken):
            taken.append(polygon)
            return corners
    return None


def _background(rng, size: int) -> np.ndarray:
    noise = fractal_noise((size, size), rng, octaves=4)  # [S, S] in about [0, 1]
    ground = np.array([0.36, 0.42, 0.28]) + rng.normal(0, 0.03, 3)
    image = ground[None, None] * (0.75 + 0.5 * noise[..., None])
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def _draw(image: np.ndarray, cls: str, corners: np.ndarray, rng) -> None:
    pts = np.round(corners * 16).astype(np.int32)  # cv2 sub-pixel points (shift 4)
    if cls == "building":
        shadow = np.round((corners + 3) * 16).astype(np.int32)
        cv2.fillPoly(image, [shadow], (40, 44, 36), lineType=cv2.LINE_AA, shift=4)
        roof = tuple(int(v) for v in rng.choice([(150, 70, 60), (170, 165, 160), (120, 110, 100)]))
        cv2.fillPoly(image, [pts], roof, lineType=cv2.LINE_AA, shift=4)
        ridge = np.round(np.array([(corners[0] + corners[3]) / 2, (corners[1] + corners[2]) / 2]) * 16)
        cv2.line(image, tuple(ridge[0].astype(int)), tuple(ridge[1].astype(int)), (90, 85, 80), 1,
                 cv2.LINE_AA, shift=4)
    else:
        body = tuple(int(v) for v in rng.choice([(220, 220, 225), (200, 40, 40), (30, 60, 170), (235, 200, 40)]))
        cv2.fillPoly(image, [pts], body, lineType=cv2.LINE_AA, shift=4)
        front = corners[1] + (corners[0] - corners[1]) * 0.3
        back = corners[2] + (corners[3] - corners[2]) * 0.3
        screen = np.round(np.array([front, corners[1], corners[2], back]) * 16).astype(np.int32)
        cv2.fillPoly(image, [screen], (30, 30, 40), lineType=cv2.LINE_AA, shift=4)


def render(rng: np.random.Generator, size: int, scale: float = 1.0, vehicles: int = 8,
           buildings: int = 3) -> tuple[np.ndarray, list[tuple[str, np.ndarray, bool]]]:
    """One ``[S, S, 3]`` uint8 image and its objects ``(class, corners [4, 2], difficult)``."""
    image = _background(rng, size)
    taken: list = []
    objects = []
    for cls, count in (("building", buildings), ("vehicle", vehicles)):
        for _ in range(count):
            corners = _place(rng, size, taken, cls, scale)
            if corners is not None:
                _draw(image, cls, corners, rng)
                objects.append((cls, corners, bool(rng.random() < 0.1)))
    return image, objects


def dota_text(objects, source: str, gsd: float = 0.5) -> str:
    lines = [f"imagesource:{source}", f"gsd:{gsd}"]
    for cls, corners, difficult in objects:
        lines.append(" ".join(f"{v:.1f}" for v in corners.reshape(-1)) + f" {cls} {int(difficult)}")
    return "\n".join(lines) + "\n"


def write_detection_set(images: str | Path, labels: str | Path, count: int = 6, size: int = 256,
                        seed: int = 0, scale: float = 1.0, vehicles: int = 8, buildings: int = 3) -> list[Path]:
    """Write ``count`` images and their DOTA label files; returns the image paths."""
    images, labels = Path(images), Path(labels)
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        rng = np.random.default_rng([seed, n])
        image, objects = render(rng, size, scale, vehicles, buildings)
        path = images / f"P{n:04d}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        (labels / f"P{n:04d}.txt").write_text(dota_text(objects, "ringmo-samples"))
        paths.append(path)
    return paths
