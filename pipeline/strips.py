"""Bounded raster reads for the tiler: one strip of source rows at a time, plus validity.

A strip is read straight into a channels-last buffer (GDAL writes pixel-interleaved through
numpy strides, so no transpose copy), clipped to the scene; what hangs over the edge stays
filled with nodata and is marked invalid. Validity comes from the dataset's own masks (alpha
or internal mask band), else its nodata value, else NaN for floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.windows import Window

from pipeline.scene import SceneError
from pipeline.windows import clip_window

_SAMPLE_WINDOWS = 4  # per axis: a 4x4 grid of blocks estimates a scene's value range


@dataclass(frozen=True)
class BandPlan:
    """Which source bands become the sample, how they are named, and how validity is found."""

    indexes: tuple[int, ...]  # 1-based source band indexes in sample order
    names: tuple[str, ...]
    dtype: str  # source dtype of the selected bands
    nodata: float | None
    mask_source: str  # "mask" (alpha/internal mask band), "nodata", or "none"
    fill: float  # value written where pixels are invalid or padded
    fill_values: tuple[float, ...] = ()  # unflagged fill (a rule's nodata, SAR zeros): invalid too


_RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def _band_name(src, index: int) -> str:
    """A source band's own name: its description, else red/green/blue when the file declares
    an RGB image, else ``b{index}`` (GDAL's default "gray"/"undefined" say nothing)."""
    desc = src.descriptions[index - 1]
    if desc:
        return desc
    interp = src.colorinterp[index - 1]
    if interp in _RGB and all(c in src.colorinterp for c in _RGB):
        return interp.name
    return f"b{index}"


def _resolve_names(src, uri: str, bands, known: tuple[str, ...] | None) -> tuple[int, ...]:
    """1-based indexes of a selection mixing indexes and band names (case-insensitive)."""
    names = known or tuple(_band_name(src, i) for i in src.indexes)
    lookup = {str(n).upper(): i for i, n in enumerate(names, start=1)}
    out = []
    for band in bands:
        if isinstance(band, str):
            if band.upper() not in lookup:
                raise SceneError(uri, f"rule selects band {band} but the scene's bands are {', '.join(names)}")
            out.append(lookup[band.upper()])
        else:
            out.append(int(band))
    return tuple(out)


def _representable(value: float | None, dtype: str) -> bool:
    if value is None:
        return False
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return True
    info = np.iinfo(dt)
    return bool(np.isfinite(value)) and float(value).is_integer() and info.min <= value <= info.max


def plan_bands(src, uri: str, bands: tuple[int | str, ...] | None, names: tuple[str, ...] | None,
               known: tuple[str, ...] | None = None, fill_values: tuple[float, ...] = ()) -> BandPlan:
    """Resolve a rule's band selection against an open dataset (alpha bands are never samples).

    ``known`` are the scene's band names from the product registry (``SceneInfo.band_names``):
    they name the sample bands and resolve band names in the selection. ``fill_values`` mark
    missing pixels although the file does not flag them (a sensor rule's ``nodata``, the zeros
    of SAR amplitude): a pixel whose every band holds one is invalid, and the first becomes
    the fill written over invalid pixels.
    """
    if known is not None and len(known) != src.count:
        known = None
    if bands is None:
        bands = tuple(i for i in src.indexes if src.colorinterp[i - 1] != ColorInterp.alpha)
    else:
        bands = _resolve_names(src, uri, bands, known)
    bad = [b for b in bands if b < 1 or b > src.count]
    if bad:
        raise SceneError(uri, f"rule selects band(s) {bad} but the scene has {src.count} band(s)")
    if names is not None and len(names) != len(bands):
        raise SceneError(uri, f"rule names {len(names)} band(s) but selects {len(bands)}")
    dtypes = {src.dtypes[b - 1] for b in bands}
    if len(dtypes) != 1:
        raise SceneError(uri, f"selected bands mix dtypes {sorted(dtypes)}")
    dtype = dtypes.pop()
    flags = src.mask_flag_enums[bands[0] - 1]
    if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
        mask_source = "mask"
    elif _representable(src.nodata, dtype) and MaskFlags.nodata in flags:
        mask_source = "nodata"
    else:
        mask_source = "none"  # a nodata value the dtype cannot hold matches no pixel
    nodata = src.nodata
    fill = float(nodata) if _representable(nodata, dtype) and np.isfinite(nodata) else 0.0
    fill_values = tuple(float(v) for v in fill_values if _representable(v, dtype))
    if fill_values and mask_source == "none" and np.isfinite(fill_values[0]):
        fill = fill_values[0]
    names = names or tuple(known[b - 1] if known else _band_name(src, b) for b in bands)
    return BandPlan(tuple(bands), tuple(names), dtype, nodata, mask_source, fill, fill_values)


def _validity(src, plan: BandPlan, data: np.ndarray, window: Window, out_hw) -> np.ndarray | None:
    """``[H, W]`` bool, True = valid, or ``None`` when every pixel read is valid."""
    valid = None
    if plan.mask_source == "mask":
        mask = np.empty(out_hw, dtype=np.uint8)
        src.read_masks(plan.indexes[0], window=window, out=mask, resampling=Resampling.nearest)
        valid = mask > 0
    elif plan.mask_source == "nodata":
        if np.isnan(plan.nodata):
            valid = ~np.isnan(data).all(axis=2)
        else:
            valid = ~(data == data.dtype.type(plan.nodata)).all(axis=2)
    if np.dtype(plan.dtype).kind == "f":
        finite = np.isfinite(data).all(axis=2)
        valid = finite if valid is None else valid & finite
    for value in plan.fill_values:
        filled = np.isnan(data).all(axis=2) if np.isnan(value) else (data == data.dtype.type(value)).all(axis=2)
        valid = ~filled if valid is None else valid & ~filled
    if valid is not None and valid.all():
        return None
    return valid


def read_strip(src, plan: BandPlan, window: tuple[int, int, int, int], out_hw: tuple[int, int],
               resampling: Resampling) -> tuple[np.ndarray, np.ndarray | None]:
    """Read source ``window`` (may hang over the scene) into ``[out_h, out_w, C]``.

    Returns the pixels (invalid ones set to ``plan.fill``) and the validity mask (``None``
    when all valid). Exactly one ``src.read`` call, bounded by the window.
    """
    out_h, out_w = out_hw
    col, row, w, h = window
    c0, r0, cw, ch = clip_window(window, src.width, src.height)
    dtype = np.dtype(plan.dtype)
    inside = (c0, r0, cw, ch) == (col, row, w, h)
    data = np.empty((out_h, out_w, len(plan.indexes)), dtype) if inside else \
        np.full((out_h, out_w, len(plan.indexes)), plan.fill, dtype)
    if cw == 0 or ch == 0:
        return data, np.zeros((out_h, out_w), dtype=bool)
    sx, sy = out_w / w, out_h / h
    dc, dr = int(round((c0 - col) * sx)), int(round((r0 - row) * sy))
    dw = max(1, min(out_w - dc, int(round(cw * sx))))
    dh = max(1, min(out_h - dr, int(round(ch * sy))))
    part = data[dr:dr + dh, dc:dc + dw]
    win = Window(c0, r0, cw, ch)
    src.read(plan.indexes, window=win, out=part.transpose(2, 0, 1), resampling=resampling)
    part_valid = _validity(src, plan, part, win, (dh, dw))
    if inside:
        valid = part_valid
    else:
        valid = np.zeros((out_h, out_w), dtype=bool)
        valid[dr:dr + dh, dc:dc + dw] = True if part_valid is None else part_valid
    if valid is not None:
        data[~valid] = plan.fill
    return data, valid


def scaler_sample(src, plan: BandPlan, max_pixels: int = 1 << 20) -> tuple[np.ndarray, np.ndarray | None]:
    """A decimated ``[H, W, C]`` read of the whole scene to fit the scene's scaler on.

    Small scenes are read whole; scenes with overviews are read at a reduced ``out_shape``
    (GDAL serves it from the overview); otherwise a 4x4 grid of source blocks is read, which
    decodes 16 blocks instead of the whole scene (a nearest-neighbour decimation would decode
    every block).
    """
    width, height = src.width, src.height
    if width * height <= max_pixels or src.overviews(plan.indexes[0]):
        factor = max(1.0, float(np.sqrt(width * height / max_pixels)))
        out_hw = (max(1, int(height / factor)), max(1, int(width / factor)))
        return read_strip(src, plan, (0, 0, width, height), out_hw, Resampling.nearest)
    bh, bw = src.block_shapes[plan.indexes[0] - 1]
    bh, bw = min(max(bh, 64), 512, height), min(max(bw, 64), 512, width)
    parts, masks = [], []
    for i in range(_SAMPLE_WINDOWS):
        for j in range(_SAMPLE_WINDOWS):
            row = int((i + 0.5) * height / _SAMPLE_WINDOWS) // bh * bh
            col = int((j + 0.5) * width / _SAMPLE_WINDOWS) // bw * bw
            data, valid = read_strip(src, plan, (col, row, bw, bh), (bh, bw), Resampling.nearest)
            parts.append(data)
            masks.append(np.ones((bh, bw), bool) if valid is None else valid)
    return np.concatenate(parts, axis=1), np.concatenate(masks, axis=1)
