"""Band wavelengths for the manifest's layout records: the one place that asks what a band is.

Today a small table of common band names; the product registry (``pipeline.products``) takes
over here once it exposes ``band_spec(sensor, band_name) -> (wavelength_nm, gsd_m) | None``:
:func:`band_spec` is the only function to rewire. The trainer never calls this: it reads the
wavelengths recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence

# centre wavelengths (nm) of names that mean the same thing on every sensor
_COMMON_NM = {
    "blue": 482.0, "b": 482.0, "green": 561.0, "g": 561.0, "red": 655.0, "r": 655.0,
    "nir": 865.0, "nir08": 865.0, "rededge": 705.0, "swir16": 1610.0, "swir22": 2200.0,
    "coastal": 443.0, "vv": 5.55e7, "vh": 5.55e7, "hh": 5.55e7, "hv": 5.55e7,  # C-band SAR: 5.55 cm
    "gamma0_vv": 5.55e7, "gamma0_vh": 5.55e7,
}
# Sentinel-2 MSI band names (centre wavelength nm, native GSD m)
_SENTINEL2 = {
    "B01": (443.0, 60.0), "B02": (490.0, 10.0), "B03": (560.0, 10.0), "B04": (665.0, 10.0),
    "B05": (705.0, 20.0), "B06": (740.0, 20.0), "B07": (783.0, 20.0), "B08": (842.0, 10.0),
    "B8A": (865.0, 20.0), "B09": (945.0, 60.0), "B10": (1375.0, 60.0), "B11": (1610.0, 20.0),
    "B12": (2190.0, 20.0),
}


# Landsat 8/9 OLI bands (B5 is NIR here, red edge on Sentinel-2: names need the sensor)
_LANDSAT8 = {"B1": (443.0, 30.0), "B2": (482.0, 30.0), "B3": (561.0, 30.0), "B4": (655.0, 30.0),
             "B5": (865.0, 30.0), "B6": (1609.0, 30.0), "B7": (2201.0, 30.0), "B8": (590.0, 15.0)}


def band_spec(sensor: str | None, band: str) -> tuple[float, float | None] | None:
    """``(centre wavelength nm, native GSD m or None)`` of one band, or None when unknown."""
    family = (sensor or "").lower()
    if family.startswith("landsat") and band.upper() in _LANDSAT8:
        return _LANDSAT8[band.upper()]
    padded = f"B{int(band[1:]):02d}" if band[:1] in "Bb" and band[1:].isdigit() else band.upper()
    if band in _SENTINEL2 or (family.startswith("sentinel2") and padded in _SENTINEL2):
        return _SENTINEL2.get(band) or _SENTINEL2[padded]
    nm = _COMMON_NM.get(band.lower())
    return None if nm is None else (nm, None)


def band_wavelengths(sensor: str | None, bands: Sequence[str]) -> tuple[list, list]:
    """``(wavelengths_nm, gsd_m)`` per band (None entries where unknown)."""
    specs = [band_spec(sensor, b) for b in bands]
    return [s[0] if s else None for s in specs], [s[1] if s else None for s in specs]
