"""Band tables of the sensors the registry knows: name, centre wavelength, native GSD, file token.

This is data: one table per sensor name (the lower-case names ``SceneInfo.sensor`` carries). The
trainer reads wavelengths per layout through :func:`band_spec` (one model across sensors), the
tiler names sample bands from it, and grouping orders per-band files by it. QA/mask bands are
listed with the ``qa`` kind a screening step reads them by; they are never image bands.

Wavelengths are the band centres published by the operators (USGS Landsat band designations,
ESA Sentinel-2 MSI spectral response, CBERS/INPE, NOAA GOES-R ABI, Planet, Maxar, Airbus); SAR
bands carry the radar wavelength (C-band 5.405 GHz = 55.47 mm). GSD is the native pixel size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    """One band of a sensor. ``tokens`` are extra spellings found in file names and tags."""

    name: str
    wavelength_nm: float | None
    gsd_m: float | None
    tokens: tuple[str, ...] = ()
    qa: str | None = None  # qa_kind when this is a quality/mask band, not an image band


def _b(name, nm, gsd, *tokens, qa=None) -> Band:
    return Band(name, nm, gsd, tuple(tokens), qa)


_OLI = (
    _b("B1", 443, 30), _b("B2", 482, 30), _b("B3", 561, 30), _b("B4", 655, 30), _b("B5", 865, 30),
    _b("B6", 1609, 30), _b("B7", 2201, 30), _b("B8", 590, 15), _b("B9", 1373, 30),
    _b("B10", 10895, 100), _b("B11", 12005, 100),
    _b("BQA", None, 30, qa="landsat_bqa"), _b("QA_PIXEL", None, 30, qa="landsat_qa_pixel"),
)
_ETM = (
    _b("B1", 478, 30), _b("B2", 560, 30), _b("B3", 661, 30), _b("B4", 835, 30), _b("B5", 1650, 30),
    _b("B6", 11450, 60, "B6_VCID_1", "B61"), _b("B7", 2208, 30), _b("B8", 710, 15),
    _b("BQA", None, 30, qa="landsat_bqa"), _b("QA_PIXEL", None, 30, qa="landsat_qa_pixel"),
)
_TM = (
    _b("B1", 485, 30), _b("B2", 569, 30), _b("B3", 660, 30), _b("B4", 840, 30), _b("B5", 1676, 30),
    _b("B6", 11435, 120), _b("B7", 2223, 30),
    _b("BQA", None, 30, qa="landsat_bqa"), _b("QA_PIXEL", None, 30, qa="landsat_qa_pixel"),
)
_MSS = (
    _b("B1", 550, 60, "B4"), _b("B2", 650, 60, "B5"), _b("B3", 750, 60, "B6"), _b("B4", 950, 60, "B7"),
    _b("BQA", None, 60, qa="landsat_bqa"), _b("QA_PIXEL", None, 60, qa="landsat_qa_pixel"),
)
_MSI = (
    _b("B01", 443, 60), _b("B02", 490, 10), _b("B03", 560, 10), _b("B04", 665, 10),
    _b("B05", 705, 20), _b("B06", 740, 20), _b("B07", 783, 20), _b("B08", 842, 10),
    _b("B8A", 865, 20), _b("B09", 945, 60), _b("B10", 1375, 60), _b("B11", 1610, 20),
    _b("B12", 2190, 20),
    _b("SCL", None, 20, qa="s2_scl"), _b("QA60", None, 60, "MSK_CLOUDS_B00", qa="s2_qa60"),
)
_C_BAND_NM = 55_465_763.0  # Sentinel-1 C-SAR, 5.405 GHz
_SAR_C = (
    _b("VV", _C_BAND_NM, 10), _b("VH", _C_BAND_NM, 10), _b("HH", _C_BAND_NM, 10),
    _b("HV", _C_BAND_NM, 10),
)
_CBERS4 = (  # PAN5M, PAN10M, MUX, IRS, WFI cameras share one band numbering
    _b("BAND1", 680, 5), _b("BAND2", 555, 10), _b("BAND3", 660, 10), _b("BAND4", 830, 10),
    _b("BAND5", 485, 20), _b("BAND6", 555, 20), _b("BAND7", 660, 20), _b("BAND8", 830, 20),
    _b("BAND9", 1650, 40), _b("BAND10", 2200, 40), _b("BAND11", 11000, 80),
    _b("BAND12", None, 40), _b("BAND13", 485, 64), _b("BAND14", 555, 64), _b("BAND15", 660, 64),
    _b("BAND16", 830, 64),
)
_CBERS4A = (  # WPM pan 2 m + MS 8 m, MUX 16.5 m, WFI 55 m
    _b("BAND0", 675, 2), _b("BAND1", 485, 8), _b("BAND2", 555, 8), _b("BAND3", 660, 8),
    _b("BAND4", 830, 8), _b("BAND5", 485, 16.5), _b("BAND6", 555, 16.5), _b("BAND7", 660, 16.5),
    _b("BAND8", 830, 16.5), _b("BAND13", 485, 55), _b("BAND14", 555, 55), _b("BAND15", 660, 55),
    _b("BAND16", 830, 55),
)
_ABI = tuple(
    _b(f"C{i:02d}", nm, gsd, f"M6C{i:02d}", f"M3C{i:02d}", f"M4C{i:02d}")
    for i, (nm, gsd) in enumerate(
        [(470, 1000), (640, 500), (865, 1000), (1378, 2000), (1610, 1000), (2250, 2000),
         (3900, 2000), (6185, 2000), (6950, 2000), (7340, 2000), (8500, 2000), (9610, 2000),
         (10350, 2000), (11200, 2000), (12300, 2000), (13300, 2000)], start=1)
)
_NAIP = (_b("red", 635, 0.6, "R"), _b("green", 560, 0.6, "G"), _b("blue", 470, 0.6, "B"),
         _b("nir", 860, 0.6, "N", "NIR"))
_PLANETSCOPE = (
    _b("blue", 490, 3), _b("green", 565, 3), _b("red", 665, 3), _b("nir", 865, 3),
    _b("coastal_blue", 443, 3), _b("green_i", 531, 3), _b("yellow", 610, 3),
    _b("rededge", 705, 3), _b("udm2", None, 3, "UDM2", qa="planet_udm2"),
)
_WV = (
    _b("pan", 625, 0.31, "P"), _b("coastal", 427, 1.24), _b("blue", 478, 1.24),
    _b("green", 546, 1.24), _b("yellow", 608, 1.24), _b("red", 659, 1.24),
    _b("rededge", 724, 1.24), _b("nir1", 833, 1.24, "nir"), _b("nir2", 949, 1.24),
)
_GE1 = (_b("pan", 605, 0.41, "P"), _b("blue", 480, 1.65), _b("green", 545, 1.65),
        _b("red", 672, 1.65), _b("nir", 850, 1.65))
_SPOT67 = (_b("pan", 600, 1.5, "P"), _b("B0", 485, 6, "blue"), _b("B1", 560, 6, "green"),
           _b("B2", 660, 6, "red"), _b("B3", 825, 6, "nir"))
_PLEIADES = (_b("pan", 600, 0.5, "P"), _b("B0", 490, 2, "blue"), _b("B1", 560, 2, "green"),
             _b("B2", 650, 2, "red"), _b("B3", 840, 2, "nir"))
_GAOFEN = (_b("pan", 675, 2, "PAN"), _b("B1", 485, 8, "blue"), _b("B2", 555, 8, "green"),
           _b("B3", 660, 8, "red"), _b("B4", 830, 8, "nir"))
_MODIS = tuple(
    _b(f"b{i:02d}", nm, gsd, f"sur_refl_b{i:02d}", f"B{i}")
    for i, (nm, gsd) in enumerate([(645, 250), (858, 250), (469, 500), (555, 500), (1240, 500),
                                   (1640, 500), (2130, 500)], start=1)
)
_RGB = (_b("red", 640, None), _b("green", 550, None), _b("blue", 465, None), _b("nir", 850, None))

#: sensor name -> its band table, in the order grouped products stack them.
BANDS: dict[str, tuple[Band, ...]] = {
    **{f"landsat{n}": _OLI for n in (8, 9)},
    "landsat7": _ETM, **{f"landsat{n}": _TM for n in (4, 5)},
    **{f"landsat{n}mss": _MSS for n in (1, 2, 3, 4, 5)},
    "sentinel2": _MSI, "sentinel1": _SAR_C,
    "cbers4": _CBERS4, "cbers4a": _CBERS4A,
    **{f"goes{n}": _ABI for n in (16, 17, 18, 19)},
    "naip": _NAIP, "planetscope": _PLANETSCOPE,
    "worldview2": _WV, "worldview3": _WV, "worldview4": _GE1, "geoeye1": _GE1, "quickbird2": _GE1,
    "spot6": _SPOT67, "spot7": _SPOT67, "pleiades": _PLEIADES,
    **{f"gaofen{n}": _GAOFEN for n in (1, 2, 6)},
    "modis": _MODIS,
    "aerial": _RGB, "drone": _RGB,
}

#: Bands a grouped product keeps when no sensor rule selects any (see README "Products"):
#: Landsat OLI keeps the reflective bands B1–B7 at 30 m; pan B8 would force a 15 m grid and
#: double the pixels for a band the others already cover, cirrus B9 sees the atmosphere, not
#: the ground, and thermal B10/B11 (100 m, brightness temperature) mix other physics into a
#: reflectance sample. ETM+/TM likewise drop pan and thermal. Sentinel-2 keeps all 12 surface
#: bands (B10 cirrus dropped for the same reason) on the 10 m grid. SAR keeps every
#: polarization present; other sensors keep every image band present.
DEFAULT_BANDS: dict[str, tuple[str, ...]] = {
    **{f"landsat{n}": ("B1", "B2", "B3", "B4", "B5", "B6", "B7") for n in (8, 9)},
    "landsat7": ("B1", "B2", "B3", "B4", "B5", "B7"),
    **{f"landsat{n}": ("B1", "B2", "B3", "B4", "B5", "B7") for n in (4, 5)},
    "sentinel2": ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"),
}


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _number(text: str) -> str | None:
    """"B02" / "band2" / "2" -> "2" (band numbers compare without leading zeros)."""
    match = re.fullmatch(r"(?:b|band)?0*(\d+)(a?)", _squash(text))
    return (match.group(1) + match.group(2)) if match else None


def find_band(sensor: str | None, text: str) -> Band | None:
    """The band of ``sensor`` that ``text`` names (name, token, or number as in ``B02``/``2``)."""
    table = BANDS.get(sensor or "")
    if not table or not text:
        return None
    want = _squash(text)
    for band in table:
        if want in {_squash(band.name), *(_squash(t) for t in band.tokens)}:
            return band
    number = _number(text)
    if number is not None:
        for band in table:
            if _number(band.name) == number:
                return band
    return None


def band_spec(sensor: str | None, band_name: str) -> tuple[float | None, float | None] | None:
    """``(wavelength_nm, gsd_m)`` of a band of ``sensor``, or None when the registry does not
    know it. A stable, pure function: the trainer conditions on wavelengths through it."""
    band = find_band(sensor, band_name)
    if band is None or band.qa is not None:
        return None
    return band.wavelength_nm, band.gsd_m


def band_order(sensor: str | None, name: str) -> int:
    """Position of a band in its sensor's table (unknown bands sort last)."""
    table = BANDS.get(sensor or "", ())
    band = find_band(sensor, name)
    return table.index(band) if band in table else len(table)
