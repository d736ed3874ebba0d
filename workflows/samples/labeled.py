"""A small labeled scene-classification set (UC Merced / AID layout: ROOT/<class>/<image>.png).

Classes are defined by texture and structure, not colour: every image draws its colours from
one palette shared by all classes, with random jitter, orientation and scale, so a classifier
must look at spatial structure (what MIM pretraining should have learned) to score well.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from workflows.samples import terrain
from workflows.samples.noise import fractal_noise

DEFAULT_CLASSES: tuple[str, ...] = (
    "farmland", "dense_residential", "sparse_residential", "forest", "river",
    "road_intersection", "dunes",
)

# earth tones shared by every class: greens, browns, greys, sand, water-like blue-greens (RGB)
PALETTE = np.array([
    (0.30, 0.42, 0.22), (0.20, 0.30, 0.16), (0.48, 0.40, 0.28), (0.60, 0.52, 0.38),
    (0.45, 0.45, 0.45), (0.62, 0.62, 0.60), (0.30, 0.30, 0.32), (0.78, 0.70, 0.52),
    (0.25, 0.40, 0.42), (0.55, 0.34, 0.28), (0.40, 0.50, 0.30), (0.70, 0.66, 0.58),
], np.float32)


def _colours(rng: np.random.Generator, n: int = 3) -> list[np.ndarray]:
    """``n`` distinct jittered palette colours plus a shared brightness factor."""
    picks = rng.choice(len(PALETTE), size=n, replace=False)
    gain = rng.uniform(0.75, 1.25)
    return [np.clip((PALETTE[i] + rng.normal(0, 0.03, 3)) * gain, 0.02, 1.0).astype(np.float32)
            for i in picks]


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a * (1.0 - t[..., None]) + b * t[..., None]


def _textured(c: np.ndarray, shape, rng, amount: float = 0.25) -> np.ndarray:
    """A flat colour with mild natural variation (so no class is the only textured one)."""
    n = fractal_noise(shape, rng, cells=rng.uniform(3, 8), octaves=4)
    return c * (1.0 - amount / 2 + amount * n)[..., None]


def structure_image(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """An n×n×3 float image of class ``name``, colours drawn from the shared palette."""
    shape = (n, n)
    s = rng.uniform(0.7, 1.4) * n / 128.0  # scale jitter, sizes below are for n = 128
    ang = rng.uniform(0, 180)
    bg, fg, ac = _colours(rng)
    img = _textured(bg, shape, rng)
    if name == "farmland":
        p = terrain.parcels(shape, rng, size_px=40 * s, angle=ang, row_period_px=max(4 * s, 2.2))
        base = _lerp(bg, fg, (p["id"] > 0.5).astype(np.float32))
        img = _textured(np.ones(3, np.float32), shape, rng, 0.15) * base * (0.8 + 0.4 * p["rows"])[..., None]
        img = _lerp(img, ac, p["edge"])
    elif name in ("dense_residential", "sparse_residential"):
        dense = name == "dense_residential"
        t = terrain.city_blocks(shape, rng, block_px=(48 if dense else 64) * s,
                                street_px=(6 if dense else 4) * s, lot_px=(9 if dense else 20) * s,
                                angle=ang, dense=dense, fill=0.55, shadow_px=2.5 * s)
        img = _lerp(img, ac, t["street"])
        roof = fg * (0.85 + 0.3 * t["roof_id"])[..., None] * t["roof_shade"][..., None]
        img = _lerp(img, roof, t["roof"]) * (1.0 - 0.6 * t["shadow"])[..., None]
    elif name == "forest":
        c = terrain.canopy(shape, rng, crown_px=8 * s)
        img = _lerp(img * 0.6, fg * c["shade"][..., None], c["cover"])
    elif name == "river":
        r = terrain.river(shape, rng, width_px=16 * s, angle=ang, offset=rng.uniform(-15, 15) * s)
        img = _lerp(_lerp(img, ac, r["bank"]), _textured(fg, shape, rng, 0.1), r["water"])
    elif name == "road_intersection":
        r = terrain.roads(shape, rng, n=int(rng.integers(2, 4)), width_px=8 * s)
        img = _lerp(_lerp(img, fg, r["road"]), ac, r["marking"])
    elif name == "dunes":
        d = terrain.dunes(shape, rng, wavelength_px=26 * s, angle=ang)
        img = _lerp(bg, fg, d["height"] * 0.5) * d["shade"][..., None]
    else:
        raise ValueError(f"unknown class {name!r}; known: {', '.join(DEFAULT_CLASSES)}")
    return img


def render_example(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 RGB example: rendered at 2× and area-downsampled (anti-aliased), plus noise."""
    img = structure_image(name, size * 2, rng)
    img = cv2.resize(img.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def write_labeled_set(out_dir: Path, *, classes: tuple[str, ...] = DEFAULT_CLASSES,
                      per_class: int = 40, size: int = 64, seed: int = 0) -> list[str]:
    """Write ``out_dir/<class>/<class>_<i>.png`` and return the class names (label order).

    Bytes depend only on (classes, per_class, size, seed).
    """
    out_dir = Path(out_dir)
    for name in classes:
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
            rgb = render_example(name, size, rng)
            ok, buf = cv2.imencode(".png", rgb[..., ::-1])
            assert ok, name
            (folder / f"{name}_{i:04d}.png").write_bytes(buf.tobytes())
    return list(classes)
