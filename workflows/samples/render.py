"""Turn terrain structures into physical fields and then into sensor pixels.

A landscape is composed as an H×W×5 float32 field: surface reflectance in blue, green, red,
near-infrared (Sentinel-2 B2, B3, B4, B8) plus linear C-band backscatter (sigma0). One field
therefore serves every simulated sensor, and the same ground looks consistent across them
(vegetation bright in NIR, water dark in NIR and SAR, roofs bright in SAR).
"""

from __future__ import annotations

import numpy as np

from workflows.samples import terrain
from workflows.samples.noise import blur, fractal_noise, smoothstep

# B2, B3, B4, B8 reflectance and sigma0 (linear), plausible orders of magnitude only
MATERIALS: dict[str, tuple[float, float, float, float, float]] = {
    "crop": (0.035, 0.075, 0.045, 0.42, 0.08),
    "wheat": (0.08, 0.12, 0.16, 0.32, 0.06),
    "soil": (0.09, 0.12, 0.16, 0.22, 0.04),
    "grass": (0.04, 0.085, 0.06, 0.33, 0.05),
    "tree": (0.025, 0.05, 0.03, 0.30, 0.12),
    "water": (0.055, 0.06, 0.035, 0.015, 0.004),
    "asphalt": (0.07, 0.075, 0.08, 0.11, 0.03),
    "concrete": (0.17, 0.18, 0.19, 0.23, 0.25),
    "zinc": (0.13, 0.14, 0.15, 0.17, 0.6),
    "tile": (0.07, 0.09, 0.21, 0.26, 0.5),
    "sand": (0.2, 0.25, 0.31, 0.37, 0.03),
    "rock": (0.13, 0.14, 0.15, 0.2, 0.15),
    "snow": (0.72, 0.75, 0.76, 0.62, 0.05),
    "foam": (0.45, 0.47, 0.47, 0.3, 0.02),
}
STYLES = ("paris", "alpine", "coastal", "farmland", "desert")


def mat(name: str) -> np.ndarray:
    return np.asarray(MATERIALS[name], np.float32)


def paint(img: np.ndarray, mask: np.ndarray, material: np.ndarray,
          tone: np.ndarray | float = 1.0) -> None:
    """Alpha-blend ``material`` (5,) or (H, W, 5), scaled by ``tone``, where ``mask`` is set.

    In place with a single temporary: painting is the hot loop of scene generation.
    """
    t = tone[..., None] if isinstance(tone, np.ndarray) else np.float32(tone)
    delta = np.multiply(material, t, dtype=np.float32)
    if delta.shape != img.shape:
        delta = np.broadcast_to(delta, img.shape).copy()
    np.subtract(delta, img, out=delta)
    delta *= mask[..., None]
    img += delta


def mix(a: str, b: str, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two materials: (H, W, 5)."""
    return mat(a) * (1.0 - t[..., None]) + mat(b) * t[..., None]


def _farmland(img, shape, rng, gsd):
    p = terrain.parcels(shape, rng, size_px=180 / gsd, angle=rng.uniform(0, 90),
                        row_period_px=max(3.0 / gsd, 1.5))
    kinds = np.floor(p["id"] * 4).astype(np.int8)  # crop, wheat, soil, grass
    table = np.stack([mat("crop"), mat("wheat"), mat("soil"), mat("grass")])
    amp = 0.3 if gsd < 1.0 else 0.0  # crop rows (~3 m apart) vanish at coarse GSD
    rows = 0.82 + amp * p["rows"] * (kinds < 3)
    paint(img, np.ones(shape, np.float32), table[kinds], rows * (0.9 + 0.2 * p["id"]))
    paint(img, p["edge"], mat("tree"), 0.8)


def _forest(img, shape, rng, gsd, mask):
    c = terrain.canopy(shape, rng, crown_px=max(7.0 / gsd, 0.8))
    paint(img, mask * (0.3 + 0.7 * c["cover"]), mat("tree"), c["shade"])


def _town(img, shape, rng, gsd, mask, *, dense, roof_mix):
    # at coarse GSD a lot would be ~1 px and alias into moire, so keep lots >= 3 px
    t = terrain.city_blocks(shape, rng, block_px=max((110 if dense else 70) / gsd, 9.0),
                            street_px=max((16 if dense else 8) / gsd, 1.0),
                            lot_px=max((14 if dense else 22) / gsd, 3.0),
                            angle=rng.uniform(0, 90), dense=dense, fill=0.75,
                            shadow_px=(6 if dense else 3) / gsd,
                            irregular=0.05 if gsd < 2.0 else 0.6)
    paint(img, mask * t["garden"] * 0.7, mat("concrete" if dense else "grass"), 0.8)
    paint(img, mask * t["street"], mat("asphalt"))
    roof = mix("zinc", "tile", (t["roof_id"] > roof_mix).astype(np.float32))
    roof = np.where((t["roof_id"] * 7 % 1 < 0.15)[..., None], mat("concrete"), roof)
    tone = t["roof_shade"] * (0.8 + 0.4 * (t["roof_id"] * 13 % 1))
    paint(img, mask * t["roof"], roof, tone)
    img *= 1.0 - 0.65 * (mask * t["shadow"])[..., None]


def _water(img, shape, rng, mask):
    ripple = 0.9 + 0.2 * fractal_noise(shape, rng, cells=12, octaves=3)
    paint(img, mask, mat("water"), ripple)


def compose(shape: tuple[int, int], rng: np.random.Generator, style: str, gsd: float) -> np.ndarray:
    """The landscape of one region style at ``gsd`` metres/pixel: H×W×5 float32."""
    img = np.zeros((*shape, 5), np.float32)
    zones = fractal_noise(shape, rng, cells=2.5, octaves=4)
    if style == "desert":
        d = terrain.dunes(shape, rng, wavelength_px=max(60 / gsd, 24), angle=rng.uniform(0, 180))
        paint(img, np.ones(shape, np.float32), mat("sand"), d["shade"])
        rock = fractal_noise(shape, rng, cells=max(shape) * gsd / 30, octaves=5)
        paint(img, smoothstep(0.8, 0.84, zones) * smoothstep(0.3, 0.6, d["height"]), mat("rock"),
              (0.6 + 0.6 * rock) * d["shade"])
    elif style == "alpine":
        r = terrain.relief(shape, rng)
        alt = 0.55 * zones + 0.45 * r["height"]
        _farmland(img, shape, rng, gsd)
        _forest(img, shape, rng, gsd, smoothstep(0.35, 0.45, zones) * smoothstep(0.75, 0.65, alt))
        rock = fractal_noise(shape, rng, cells=max(shape) * gsd / 20, octaves=4)
        paint(img, smoothstep(0.72, 0.78, alt), mat("rock"), 0.75 + 0.5 * rock)
        paint(img, smoothstep(0.86, 0.9, alt), mat("snow"), 0.9 + 0.1 * rock)
        _town(img, shape, rng, gsd, smoothstep(0.3, 0.25, zones), dense=False, roof_mix=0.4)
        img *= r["shade"][..., None]
    else:
        _farmland(img, shape, rng, gsd)
        if style == "farmland":
            _forest(img, shape, rng, gsd, smoothstep(0.65, 0.72, zones))
            _town(img, shape, rng, gsd, smoothstep(0.28, 0.22, zones), dense=False, roof_mix=0.3)
        else:
            _forest(img, shape, rng, gsd, smoothstep(0.72, 0.78, zones))
            lo = 0.15 if style == "paris" else 0.3
            dense = smoothstep(lo, lo + 0.1, zones) * smoothstep(0.72, 0.66, zones)
            _town(img, shape, rng, gsd, dense, dense=True, roof_mix=0.9 if style == "paris" else 0.2)
            _town(img, shape, rng, gsd, smoothstep(0.3, 0.25, zones), dense=False, roof_mix=0.3)
    road = terrain.roads(shape, rng, n=2, width_px=max(12 / gsd, 1.0))
    if style != "desert":
        paint(img, road["road"], mat("asphalt"))
        paint(img, road["marking"], mat("snow"), 0.9)
    if style in ("paris", "farmland", "alpine"):
        rv = terrain.river(shape, rng, width_px=max(70 / gsd, 3.0), angle=rng.uniform(0, 180))
        paint(img, rv["bank"], mat("concrete" if style == "paris" else "grass"), 0.85)
        _water(img, shape, rng, rv["water"])
    if style == "coastal":
        c = terrain.coast(shape, rng, angle=rng.uniform(0, 360), beach_px=max(40 / gsd, 2.0))
        paint(img, c["beach"], mat("sand"), 1.0)
        _water(img, shape, rng, c["sea"])
        paint(img, 0.6 * c["surf"] * c["sea"], mat("foam"), 0.8)
    grain = 0.93 + 0.14 * fractal_noise(shape, rng, cells=max(shape) / 6, octaves=2)
    img *= grain[..., None]
    if gsd >= 2.0:  # a coarse sensor's point-spread function softens sub-pixel structures
        img = np.stack([blur(img[..., i], 0.6) for i in range(img.shape[2])], axis=-1)
    return img


def to_rgb8(field: np.ndarray, rng: np.random.Generator, gain: float = 2.8) -> np.ndarray:
    """Aerial camera: red, green, blue with gamma, values 1..255 (0 is kept for nodata)."""
    rgb = np.clip(field[..., [2, 1, 0]] * gain, 0, 1) ** (1 / 2.2)
    rgb += rng.normal(0, 0.006, rgb.shape).astype(np.float32)
    return np.clip(np.rint(rgb * 254 + 1), 1, 255).astype(np.uint8)


def to_multispectral(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sentinel-2-like L2A digital numbers (reflectance × 10000) for B2, B3, B4, B8: uint16 1..10000."""
    refl = field[..., :4] + rng.normal(0, 0.003, field[..., :4].shape).astype(np.float32)
    return np.clip(np.rint(refl * 10000), 1, 10000).astype(np.uint16)


def to_sar(field: np.ndarray, rng: np.random.Generator, looks: float = 4.4) -> np.ndarray:
    """Sentinel-1-like GRD linear backscatter: sigma0 times multi-look gamma speckle.

    Speckle is lightly blurred because GRD resampling correlates neighbouring pixels.
    """
    sigma0 = blur(field[..., 4], 0.7)
    speckle = rng.gamma(looks, 1.0 / looks, sigma0.shape).astype(np.float32)
    return np.maximum(sigma0 * blur(speckle, 0.6), 1e-5).astype(np.float32)
