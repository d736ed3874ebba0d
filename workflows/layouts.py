"""Band wavelengths for the manifest's layout records: the product registry, plus generic names.

The registry (``pipeline.products.band_spec``) knows each sensor's band table; a band named
only by what it is (``red``, ``nir``, ``vv``...) on an unidentified sensor still has a known
centre wavelength. The trainer never calls this: it reads the wavelengths recorded in the
manifest (``stats[layout]["wavelengths_nm"]``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.products import band_spec

# centre wavelengths (nm) of names that mean the same thing on every sensor
_GENERIC_NM = {
    "blue": 482.0, "green": 561.0, "red": 655.0, "nir": 865.0, "nir08": 865.0, "rededge": 705.0,
    "swir16": 1610.0, "swir22": 2200.0, "coastal": 443.0,
    "vv": 5.55e7, "vh": 5.55e7, "hh": 5.55e7, "hv": 5.55e7,  # C-band SAR: 5.55 cm
}


def band_wavelength(sensor: str | None, band: str) -> tuple[float | None, float | None]:
    """``(centre wavelength nm, native GSD m)`` of one band; ``None`` parts where unknown."""
    spec = band_spec(sensor, band)
    if spec is not None:
        return spec
    return _GENERIC_NM.get(band.lower()), None


def band_wavelengths(sensor: str | None, bands: Sequence[str]) -> tuple[list, list]:
    """``(wavelengths_nm, gsd_m)`` per band (None entries where unknown)."""
    specs = [band_wavelength(sensor, b) for b in bands]
    return [s[0] for s in specs], [s[1] for s in specs]
