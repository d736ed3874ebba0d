"""Put the evidence together: what product a raster (or a group of band files) is.

Evidence is weighed in a fixed order: STAC item properties (or a list file's ``sensor=``),
sidecar metadata files, the raster's GDAL/TIFF tags, then file and product-folder names. The
first source that names a sensor decides it (``sensor_source``); the others may still fill in
what it leaves out (platform, product level, acquisition time) when they agree on the sensor.
Without any of these, a georeferenced scene finer than 1 m is "aerial" (evidence: its GSD); a
folder called ``aerial`` proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.products.bands import BANDS, Band, find_band
from pipeline.products.facts import Facts, platform_facts
from pipeline.products.names import name_facts
from pipeline.products.sidecars import sidecar_facts
from pipeline.products.tags import PROCESSING_TIME_TAG, acquired_from_tags, tag_facts
from pipeline.sensors import parse_datetime

AERIAL_MAX_GSD_M = 1.0  # finer than any civil satellite multispectral band: an aircraft or a drone


@dataclass(frozen=True)
class Identity:
    """What the registry concluded; ``sensor`` is None when nothing named one."""

    sensor: str | None
    platform: str | None
    product: str | None
    acquired: datetime | None
    sensor_source: str | None  # stac | sidecar | tags | name | gsd
    product_id: str | None = None
    sidecar: str | None = None  # the metadata file that was read, if any


def _evidence(path: str, tags, hint, hint_source, prefix, local) -> tuple[list[Facts], str | None]:
    found, sidecar = [], None
    if hint:
        found.append(platform_facts(hint, hint_source))
    if local:
        side = sidecar_facts(path, prefix)
        if side is not None:
            sidecar = side[0]
            found.append(side[1])
    found.append(tag_facts(tags))
    named = name_facts(path)
    found.append(named[1] if named else None)
    return [f for f in found if f is not None], sidecar


def _pick(facts: Sequence[Facts], name: str, prefer_longest: bool = False):
    values = [getattr(f, name) for f in facts if getattr(f, name) is not None]
    if not values:
        return None
    return max(values, key=len) if prefer_longest else values[0]


def identify(path: str, tags: Mapping[str, str] | None = None, *, hint: str | None = None,
             hint_source: str = "stac", prefix: str | None = None, gsd_m: float | None = None,
             local: bool = True) -> Identity:
    """Identify the product ``path`` belongs to (``prefix``: its band-file stem, see sidecars).

    ``local=False`` skips the sidecar probes (remote inputs: one round trip each).
    """
    evidence, sidecar = _evidence(path, tags, hint, hint_source, prefix, local)
    deciding = next((f for f in evidence if f.sensor is not None), None)
    upper = {str(k).upper(): v for k, v in (tags or {}).items()}
    generic = acquired_from_tags(upper)
    if deciding is None:
        aerial = gsd_m is not None and gsd_m < AERIAL_MAX_GSD_M
        acquired = generic or parse_datetime(upper.get(PROCESSING_TIME_TAG))
        return Identity("aerial" if aerial else None, None, None, acquired, "gsd" if aerial else None)
    agree = [f for f in evidence if f.sensor == deciding.sensor]
    dated = [f.acquired for f in agree if f.acquired is not None and f.source in ("stac", "sidecar", "tags")]
    named = [f.acquired for f in agree if f.acquired is not None and f.source == "name"]
    acquired = next(iter(dated), None) or generic or next(iter(named), None) \
        or parse_datetime(upper.get(PROCESSING_TIME_TAG))
    return Identity(deciding.sensor, _pick(agree, "platform", prefer_longest=True), _pick(agree, "product"),
                    acquired, deciding.source, _pick(agree, "product_id"),
                    sidecar if deciding.source == "sidecar" else None)


def _resolve(sensor: str | None, text: str | None) -> Band | None:
    if not text:
        return None
    band = find_band(sensor, text)
    if band is not None:
        return band
    for part in reversed(re.split(r"[_\s.-]+", text)):
        band = find_band(sensor, part)
        if band is not None and not part.isdigit():
            return band
    return None


def band_names_for(sensor: str | None, descriptions: Sequence[str | None], token: str | None = None
                   ) -> tuple[str, ...] | None:
    """Registry names of a single file's bands, from band descriptions or (one band) the band
    token of its file name; None unless every band is known."""
    if sensor not in BANDS:
        return None
    if len(descriptions) == 1 and token:
        band = _resolve(sensor, token)
        if band is not None:
            return (band.name,)
    bands = [_resolve(sensor, d) for d in descriptions]
    if bands and all(b is not None for b in bands) and len({b.name for b in bands}) == len(bands):
        return tuple(b.name for b in bands)
    return None
