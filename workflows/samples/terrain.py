"""Procedural land-cover *structures*: fields with crop rows, city blocks, canopy, rivers, roads,
dunes, coasts and relief.

Each generator is pure and seeded and returns float32 H×W fields (masks in [0, 1], shading
around 1, per-object random attributes in [0, 1)), never colours: ``render`` decides what
materials they get, so the same structures serve aerial RGB, multispectral, SAR and the
labeled set. Sizes are in pixels so callers choose the ground sampling distance.
"""

from __future__ import annotations

import numpy as np

from workflows.samples.noise import (
    blur,
    fractal_noise,
    grid_coords,
    hash_uniform,
    hillshade,
    shift,
    smoothstep,
    warp,
)

Shape = tuple[int, int]


def parcels(shape: Shape, rng: np.random.Generator, size_px: float, angle: float,
            row_period_px: float = 6.0) -> dict[str, np.ndarray]:
    """Agricultural parcels in staggered strips, each with its own crop-row direction.

    Returns ``id`` (per-parcel uniform), ``rows`` (0..1 stripes), ``edge`` (hedge/track mask).
    """
    salt = int(rng.integers(1 << 31))
    u, v = grid_coords(shape, angle)
    u, v = warp(u, v, rng, amplitude=size_px * 0.08, cells=2.0)
    su = size_px * 1.6
    cu = np.floor(u / su)
    sv = size_px * (0.6 + 0.8 * hash_uniform(cu, cu * 0, salt + 1))  # strip-dependent depth
    vv = v + hash_uniform(cu, cu * 0, salt + 2) * sv
    cv = np.floor(vv / sv)
    pid = hash_uniform(cu, cv, salt)
    fu = u / su - cu
    fv = vv / sv - cv
    edge_px = min(1.5, size_px * 0.02) + 0.5
    dist = np.minimum(np.minimum(fu, 1 - fu) * su, np.minimum(fv, 1 - fv) * sv)
    edge = smoothstep(edge_px + 1.0, edge_px, dist)
    # rows run along or across the parcel with a few degrees of play
    across = hash_uniform(cu, cv, salt + 3) < 0.5
    theta = np.where(across, 0.5 * np.pi, 0.0) + (hash_uniform(cu, cv, salt + 4) - 0.5) * 0.2
    period = row_period_px * (0.7 + 0.6 * hash_uniform(cu, cv, salt + 5))
    phase = (u * np.cos(theta) + v * np.sin(theta)) / period
    rows = (0.5 + 0.5 * np.sin(2 * np.pi * phase)).astype(np.float32)
    return {"id": pid, "rows": rows, "edge": edge}


def city_blocks(shape: Shape, rng: np.random.Generator, *, block_px: float, street_px: float,
                lot_px: float, angle: float, dense: bool, fill: float = 0.8,
                shadow_px: float = 4.0, irregular: float = 0.05) -> dict[str, np.ndarray]:
    """Street grid with buildings: dense perimeter blocks (courtyards) or detached houses.

    Returns ``street``, ``roof`` masks, ``roof_id`` (per building), ``roof_shade`` (two-slope
    roofs), ``shadow`` (cast by the sun from the north-west) and ``garden`` (unbuilt lot area).
    """
    salt = int(rng.integers(1 << 31))
    u, v = grid_coords(shape, angle)
    u, v = warp(u, v, rng, amplitude=block_px * irregular, cells=2.0 + 6.0 * irregular)
    bu, bv = np.floor(u / block_px), np.floor(v / block_px)
    a = u - bu * block_px - street_px
    b = v - bv * block_px - street_px
    inner = block_px - street_px
    street = ((a < 0) | (b < 0)).astype(np.float32)
    a, b = np.clip(a, 0, None), np.clip(b, 0, None)
    if dense:
        depth = lot_px * 1.1
        ring = (a < depth) | (a > inner - depth) | (b < depth) | (b > inner - depth)
        la, lb = np.floor(a / lot_px), np.floor(b / lot_px)
        roof = ring & (street == 0)
        rid = hash_uniform(bu * 97 + la, bv * 89 + lb, salt)
        # the ridge line runs along the street, i.e. across the ring depth
        edge_d = np.minimum(np.minimum(a, inner - a), np.minimum(b, inner - b))
        slope = np.where(edge_d < depth / 2, 0.85, 1.12)
    else:
        la, lb = np.floor(a / lot_px), np.floor(b / lot_px)
        fa, fb = a - la * lot_px - lot_px / 2, b - lb * lot_px - lot_px / 2
        rid = hash_uniform(bu * 97 + la, bv * 89 + lb, salt)
        hw = lot_px * (0.18 + 0.14 * hash_uniform(bu * 97 + la, bv * 89 + lb, salt + 1))
        hh = lot_px * (0.18 + 0.14 * hash_uniform(bu * 97 + la, bv * 89 + lb, salt + 2))
        present = hash_uniform(bu * 97 + la, bv * 89 + lb, salt + 3) < fill
        roof = present & (np.abs(fa) < hw) & (np.abs(fb) < hh) & (a < inner) & (b < inner)
        slope = np.where(fa < 0, 0.85, 1.12)
    roof = roof.astype(np.float32)
    cast = shift(roof, shadow_px, shadow_px)
    shadow = np.clip(cast - roof, 0.0, 1.0)
    garden = (1.0 - street) * (1.0 - roof)
    return {"street": street, "roof": roof, "roof_id": rid.astype(np.float32),
            "roof_shade": slope.astype(np.float32), "shadow": shadow, "garden": garden}


def canopy(shape: Shape, rng: np.random.Generator, crown_px: float, density: float = 1.0
           ) -> dict[str, np.ndarray]:
    """Tree crowns as blurred impulses: ``cover`` (0..1) and ``shade`` (sunlit/shadowed crowns)."""
    h, w = shape
    n = int(density * h * w / max(crown_px, 1.0) ** 2 * 1.3)
    field = np.zeros(shape, np.float32)
    ys = rng.integers(0, h, n)
    xs = rng.integers(0, w, n)
    np.add.at(field, (ys, xs), rng.uniform(0.6, 1.4, n).astype(np.float32))
    height = blur(field, max(crown_px / 2.5, 0.6))
    height /= max(float(np.percentile(height, 99)), 1e-6)
    cover = smoothstep(0.15, 0.45, height)
    shade = hillshade(height * crown_px * 0.9, strength=1.2) * (0.55 + 0.45 * cover)
    return {"cover": cover, "shade": shade.astype(np.float32), "height": height}


def meander(length: int, rng: np.random.Generator, amplitude: float, wavelength: float
            ) -> np.ndarray:
    """A 1-D meandering offset curve (sum of random sines) sampled at integer positions."""
    t = np.arange(length, dtype=np.float32)
    out = np.zeros(length, np.float32)
    for k in range(4):
        lam = wavelength / (1.0 + k * 0.9) * rng.uniform(0.8, 1.2)
        out += amplitude / (1.0 + k) * np.sin(2 * np.pi * t / lam + rng.uniform(0, 2 * np.pi))
    return out


def river(shape: Shape, rng: np.random.Generator, width_px: float, angle: float,
          offset: float = 0.0) -> dict[str, np.ndarray]:
    """A meandering channel crossing the image: ``water`` mask and ``bank`` strip mask."""
    u, v = grid_coords(shape, angle)
    diag = int(np.hypot(*shape)) + 4
    curve = meander(diag, rng, amplitude=width_px * 2.5, wavelength=width_px * 18)
    idx = np.clip((u + diag / 2).astype(np.int32), 0, diag - 1)
    width = width_px * (0.8 + 0.4 * fractal_noise(shape, rng, cells=2, octaves=2))
    dist = np.abs(v - offset - curve[idx])
    water = smoothstep(width / 2 + 1.0, width / 2 - 1.0, dist)
    bank = smoothstep(width / 2 + width * 0.5, width / 2, dist) * (1 - water)
    return {"water": water, "bank": bank}


def roads(shape: Shape, rng: np.random.Generator, n: int, width_px: float
          ) -> dict[str, np.ndarray]:
    """A few gently curving through-roads: ``road`` mask and dashed centre ``marking``."""
    road = np.zeros(shape, np.float32)
    marking = np.zeros(shape, np.float32)
    h, w = shape
    diag = int(np.hypot(h, w)) + 4
    for _ in range(n):
        u, v = grid_coords(shape, rng.uniform(0, 180))
        curve = meander(diag, rng, amplitude=width_px * 3, wavelength=diag * 1.5)
        idx = np.clip((u + diag / 2).astype(np.int32), 0, diag - 1)
        dist = np.abs(v - rng.uniform(-0.3, 0.3) * min(h, w) - curve[idx])
        road = np.maximum(road, smoothstep(width_px / 2 + 0.7, width_px / 2 - 0.7, dist))
        dash = (np.mod(u, width_px * 3) < width_px * 1.5) & (dist < max(width_px * 0.06, 0.5))
        marking = np.maximum(marking, dash.astype(np.float32) * (width_px >= 6))
    return {"road": road, "marking": marking}


def dunes(shape: Shape, rng: np.random.Generator, wavelength_px: float, angle: float
          ) -> dict[str, np.ndarray]:
    """Transverse dunes: asymmetric ridges (gentle stoss, steep slip face) with fine ripples."""
    u, v = grid_coords(shape, angle)
    u, v = warp(u, v, rng, amplitude=wavelength_px * 0.9, cells=2.5)
    phase = u / wavelength_px + 0.4 * fractal_noise(shape, rng, cells=3, octaves=2)
    saw = phase - np.floor(phase)
    height = np.where(saw < 0.78, saw / 0.78, (1.0 - saw) / 0.22).astype(np.float32)
    ripple = 0.5 + 0.5 * np.sin(2 * np.pi * (u * 0.3 + v) / max(wavelength_px / 9, 2.0))
    shade = hillshade(blur(height, 0.8) * wavelength_px * 0.25, azimuth_deg=300, strength=0.9)
    return {"height": height, "shade": shade * (0.94 + 0.06 * ripple.astype(np.float32))}


def coast(shape: Shape, rng: np.random.Generator, angle: float, beach_px: float,
          sea_fraction: float = 0.35) -> dict[str, np.ndarray]:
    """A ragged coastline: ``sea`` mask, ``beach`` strip and ``surf`` foam line."""
    u, v = grid_coords(shape, angle)
    span = float(np.abs(v).max()) * 2
    g = v / span + 0.25 * (fractal_noise(shape, rng, cells=3, octaves=5) - 0.5)
    level = 0.5 - sea_fraction
    sea = smoothstep(level - 0.002, level + 0.002, g)
    d = (g - level) * span  # signed distance-ish in px, >0 at sea
    beach = smoothstep(-beach_px, -beach_px * 0.4, d) * (1 - sea)
    surf = smoothstep(0.0, beach_px * 0.15, d) * smoothstep(beach_px * 0.6, beach_px * 0.2, d)
    return {"sea": sea, "beach": beach, "surf": surf}


def relief(shape: Shape, rng: np.random.Generator, cells: float = 3.0) -> dict[str, np.ndarray]:
    """Ridged mountain relief: ``height`` (0..1) and its ``shade``."""
    n = fractal_noise(shape, rng, cells=cells, octaves=6, persistence=0.55)
    ridged = 1.0 - np.abs(2.0 * n - 1.0)
    height = blur(ridged**2, 1.0)
    return {"height": height, "shade": hillshade(height * max(shape) * 0.08, strength=1.0)}
