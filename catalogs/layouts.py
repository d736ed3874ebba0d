"""Band layouts: the (sensor, bands, dtype) a sample's array has, named by one key.

A corpus mixes layouts (a 4-band uint16 Landsat stack, 1-band float32 SAR, 3-band uint8
aerial RGB). The trainer batches per layout, normalizes per layout and gives each layout its
input; the manifest stores statistics per layout. This module is the one place that says what
a layout is and how its key is spelled, so producer and trainer agree.
"""

from __future__ import annotations

from collections.abc import Sequence


def band_list(bands: str | Sequence[str] | None) -> tuple[str, ...]:
    """Band names as a tuple, from the catalog's comma-separated text or a sequence."""
    if bands is None:
        return ()
    if isinstance(bands, str):
        return tuple(b for b in bands.split(",") if b)
    return tuple(str(b) for b in bands)


def layout_key(sensor: str | None, bands: str | Sequence[str] | None, dtype: str | None) -> str:
    """``sensor/band,band,.../dtype``: the key of a layout in the manifest and the trainer."""
    return f"{sensor or 'unknown'}/{','.join(band_list(bands))}/{dtype or ''}"


def parse_layout_key(key: str) -> tuple[str, tuple[str, ...], str]:
    """Inverse of :func:`layout_key`: ``(sensor, bands, dtype)``."""
    sensor, bands, dtype = key.split("/")
    return sensor, band_list(bands), dtype
