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


def layout_key(sensor: str | None, bands: str | Sequence[str] | None, dtype: str | None,
               band_count: int | None = None) -> str:
    """``sensor/band,band,.../dtype``: the key of a layout in the manifest and the trainer.

    Rows without band names but with a ``band_count`` get ``b1..bN``, so layouts that differ in
    band count never share a key.
    """
    names = band_list(bands)
    if not names and band_count:
        names = tuple(f"b{i + 1}" for i in range(int(band_count)))
    return f"{sensor or 'unknown'}/{','.join(names)}/{dtype or ''}"


def parse_layout_key(key: str) -> tuple[str, tuple[str, ...], str]:
    """Inverse of :func:`layout_key`: ``(sensor, bands, dtype)``."""
    sensor, bands, dtype = key.split("/")
    return sensor, band_list(bands), dtype


# Centre wavelengths (nm) assumed for a 3-band 8-bit layout whose bands are not identified:
# 8-bit three-band imagery is, in practice, a visible red/green/blue composite (aerial photos,
# quicklooks, true-colour products), so a wavelength-conditioned encoder treats it as such.
VISIBLE_RGB_NM = (640.0, 550.0, 470.0)


def assumed_wavelengths(bands: Sequence[str], dtype: str | None,
                        known: Sequence[float | None] | None) -> tuple[float, ...] | None:
    """Each band's centre wavelength (nm), or None when the layout cannot be placed in the spectrum.

    ``known`` is what the product registry said per band (None for a band it does not know).
    All known: those. Otherwise a 3-band uint8 layout is taken for visible RGB (see
    :data:`VISIBLE_RGB_NM`); any other layout with an unknown band gets None, and the trainer gives
    it a learned input of its own instead of a wavelength-generated one.
    """
    count = len(bands)
    if known is not None and len(known) == count and count and all(w is not None for w in known):
        return tuple(float(w) for w in known)
    if count == 3 and dtype == "uint8":
        return VISIBLE_RGB_NM
    return None


def layout_record(sensor: str | None, bands: Sequence[str], dtype: str | None, mean: Sequence[float],
                  std: Sequence[float], count: int, wavelengths_nm: Sequence[float | None] | None = None,
                  gsd_m: Sequence[float | None] | None = None) -> dict:
    """One layout's entry of the manifest's ``stats`` (keyed by :func:`layout_key`).

    The trainer reads everything it needs about a layout from here (it never asks the product
    registry): band names, dtype, normalization statistics, and when known each band's centre
    wavelength and native GSD for the wavelength-conditioned input.
    """
    return {
        "sensor": sensor or "unknown",
        "bands": list(band_list(bands)),
        "dtype": dtype or "",
        "mean": [round(float(v), 4) for v in mean],
        "std": [round(float(v), 4) for v in std],
        "count": int(count),
        "wavelengths_nm": None if wavelengths_nm is None else [None if w is None else float(w) for w in wavelengths_nm],
        "gsd_m": None if gsd_m is None else [None if g is None else float(g) for g in gsd_m],
    }
