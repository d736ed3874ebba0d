"""What one piece of evidence says about a product, and how platform names map to sensors.

Every reader of the registry (names, sidecars, tags, STAC hints) answers with ``Facts``; the
identification step (:mod:`pipeline.products.identify`) merges them in evidence order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


@dataclass(frozen=True)
class Facts:
    """What one source of evidence tells; ``None`` = it does not say."""

    sensor: str | None = None  # lower-case registry sensor name, e.g. "landsat8"
    platform: str | None = None  # e.g. "landsat-8", "sentinel-2a"
    product: str | None = None  # product type / processing level, e.g. "L1TP", "MSIL1C", "GRD"
    acquired: datetime | None = None
    product_id: str | None = None  # the product's own identifier, when the evidence names it
    source: str | None = None  # stac | sidecar | tags | name | gsd


def utc(year: int, month: int, day: int, *hms: int) -> datetime | None:
    try:
        return datetime(year, month, day, *hms, tzinfo=timezone.utc)
    except ValueError:
        return None


def day_of_year(year: str | int, doy: str | int, *hms: int) -> datetime | None:
    """``2015``, ``216`` -> 2015-08-04 (Landsat scene ids, MODIS and GOES file names)."""
    start = utc(int(year), 1, 1, *hms)
    if start is None or not 1 <= int(doy) <= 366:
        return None
    return start + timedelta(days=int(doy) - 1)


def compact_date(text: str | None) -> datetime | None:
    """``20170729`` or ``20170729T153811`` (or ``...153811`` without the T) as UTC."""
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T?(\d{2})(\d{2})(\d{2}))?", text)
    if not match:
        return None
    parts = [int(p) for p in match.groups() if p is not None]
    return utc(*parts)


#: Platform spellings (STAC ``platform``/``constellation``, sidecar spacecraft ids, GDAL tags)
#: -> (sensor, platform). Patterns match the squashed lower-case text (letters and digits only).
_PLATFORMS: tuple[tuple[str, str, str], ...] = (
    (r"landsat0?([1-5])mss", "landsat{0}mss", "landsat-{0}"),
    (r"landsat0?([4-9])", "landsat{0}", "landsat-{0}"),
    (r"sentinel2([abcd])?", "sentinel2", "sentinel-2{0}"),
    (r"sentinel1([abcd])?", "sentinel1", "sentinel-1{0}"),
    (r"s2([abcd])", "sentinel2", "sentinel-2{0}"),
    (r"s1([abcd])", "sentinel1", "sentinel-1{0}"),
    (r"cbers0?(4a?)", "cbers{0}", "cbers-{0}"),
    (r"goes0?(1[6-9])", "goes{0}", "goes-{0}"),
    (r"naip", "naip", "aircraft"),
    (r"(?:planetscope|ps2|ps2sd|psbsd|dove)", "planetscope", "planetscope"),
    (r"(?:worldview|wv)0?([1-4])", "worldview{0}", "worldview-{0}"),
    (r"(?:geoeye|ge)0?1", "geoeye1", "geoeye-1"),
    (r"(?:quickbird|qb)0?2?", "quickbird2", "quickbird-2"),
    (r"spot0?([4-7])", "spot{0}", "spot-{0}"),
    (r"(?:pleiades|phr)(1[ab])?", "pleiades", "pleiades-{0}"),
    (r"(?:gaofen|gf)0?([1-7])", "gaofen{0}", "gaofen-{0}"),
    (r"terra", "modis", "terra"),
    (r"aqua", "modis", "aqua"),
)


def platform_facts(text: str | None, source: str) -> Facts | None:
    """Facts from a platform or constellation name ("Sentinel-2A", "LANDSAT_8", "WV03")."""
    if not text:
        return None
    squashed = re.sub(r"[^a-z0-9]", "", str(text).lower())
    for pattern, sensor, platform in _PLATFORMS:
        match = re.fullmatch(pattern, squashed)
        if match:
            group = (match.group(1) or "") if match.groups() else ""
            return Facts(sensor=sensor.format(group.lower()),
                         platform=platform.format(group.lower()).rstrip("-"), source=source)
    return None
