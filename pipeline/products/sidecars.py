"""Metadata files that ship next to a product's rasters, and what each one says.

Landsat ``*_MTL.txt`` / ``*_MTL.json``, Sentinel-2 ``MTD_MSIL*.xml`` / ``MTD_TL.xml`` /
``tileInfo.json``, Sentinel-1 ``manifest.safe``, SPOT/Pléiades DIMAP ``DIM_*.XML``, Maxar
``.IMD``, PlanetScope ``*_metadata.json`` and Gaofen ``.xml``. Only local files are probed:
over HTTP every probe would cost a round trip per scene. XML is read with regular expressions
on element names (namespaces ignored): these files are small and their element names unique.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
from collections.abc import Callable, Iterator

from pipeline.products.facts import Facts, platform_facts
from pipeline.products.names import name_facts
from pipeline.sensors import parse_datetime

MAX_SIDECAR_BYTES = 4 << 20  # a metadata file larger than this is not one of ours


def _read(path: str) -> str | None:
    try:
        if os.path.getsize(path) > MAX_SIDECAR_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _xml(text: str, *names: str) -> str | None:
    """Text of the first element with one of ``names`` (local name, any namespace)."""
    for name in names:
        match = re.search(rf"<(?:[\w.-]+:)?{name}(?:\s[^>]*)?>\s*([^<]*?)\s*</", text)
        if match and match.group(1):
            return match.group(1)
    return None


def _merge(*parts: Facts | None, **fields) -> Facts:
    out = {}
    for part in parts:
        if part is None:
            continue
        for key in ("sensor", "platform", "product", "acquired", "product_id"):
            if out.get(key) is None and getattr(part, key) is not None:
                out[key] = getattr(part, key)
    out.update({k: v for k, v in fields.items() if v is not None})
    return Facts(**out, source="sidecar")


def _flatten(obj, into: dict) -> dict:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, (dict, list)):
                _flatten(value, into)
            else:
                into.setdefault(str(key).upper(), value)
    elif isinstance(obj, list):
        for value in obj:
            _flatten(value, into)
    return into


def parse_mtl_text(text: str) -> dict[str, str]:
    """``KEY = VALUE`` lines of a Landsat MTL (groups flattened, quotes stripped)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key not in ("GROUP", "END_GROUP"):
            fields.setdefault(key.upper(), value.strip().strip('"'))
    return fields


def landsat_mtl(path: str) -> Facts | None:
    text = _read(path)
    if text is None:
        return None
    if path.lower().endswith(".json"):
        try:
            fields = _flatten(json.loads(text), {})
        except ValueError:
            return None
    else:
        fields = parse_mtl_text(text)
    product_id = fields.get("LANDSAT_PRODUCT_ID") or fields.get("LANDSAT_SCENE_ID")
    from_id = name_facts(str(product_id))[1] if product_id and name_facts(str(product_id)) else None
    spacecraft = platform_facts(fields.get("SPACECRAFT_ID"), "sidecar")
    if spacecraft is None and from_id is None:
        return None
    sensor_id = str(fields.get("SENSOR_ID", "")).upper()
    if spacecraft is not None and sensor_id == "MSS":
        spacecraft = Facts(sensor=spacecraft.sensor + "mss" if not spacecraft.sensor.endswith("mss")
                           else spacecraft.sensor, platform=spacecraft.platform)
    day, time = fields.get("DATE_ACQUIRED"), str(fields.get("SCENE_CENTER_TIME", "")).strip('"')
    acquired = parse_datetime(f"{day}T{time}" if day and time else day) or parse_datetime(day)
    level = fields.get("PROCESSING_LEVEL") or fields.get("DATA_TYPE")
    return _merge(spacecraft, from_id, acquired=acquired, product=level and str(level).upper(),
                  product_id=product_id and str(product_id))


def sentinel2_mtd(path: str) -> Facts | None:
    text = _read(path)
    if text is None:
        return None
    spacecraft = platform_facts(_xml(text, "SPACECRAFT_NAME"), "sidecar")
    when = parse_datetime(_xml(text, "PRODUCT_START_TIME", "DATATAKE_SENSING_START", "SENSING_TIME"))
    product_uri = _xml(text, "PRODUCT_URI")
    from_uri = name_facts(product_uri)[1] if product_uri and name_facts(product_uri) else None
    product_type = _xml(text, "PRODUCT_TYPE")  # S2MSI1C / S2MSI2A
    product = f"MSIL{product_type[-2:]}" if product_type and product_type.upper().startswith("S2MSI") else None
    if spacecraft is None and from_uri is None and not re.search(r"MTD_TL|Level-[12]", text):
        return None
    base = spacecraft or from_uri or Facts("sentinel2", "sentinel-2")
    return _merge(base, from_uri, acquired=when, product=product,
                  product_id=product_uri and product_uri.removesuffix(".SAFE"))


def sentinel2_tileinfo(path: str) -> Facts | None:
    text = _read(path)
    try:
        info = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(info, dict):
        return None
    name = str(info.get("productName") or "")
    from_name = name_facts(name)[1] if name and name_facts(name) else None
    if from_name is None and "utmZone" not in info:
        return None
    return _merge(from_name or Facts("sentinel2", "sentinel-2"), acquired=parse_datetime(info.get("timestamp")),
                  product_id=name or None)


def sentinel1_manifest(path: str) -> Facts | None:
    text = _read(path)
    if text is None or (_xml(text, "familyName") or "").upper() != "SENTINEL-1":
        return None
    unit = (_xml(text, "number") or "").lower()
    return Facts("sentinel1", f"sentinel-1{unit}", (_xml(text, "productType") or "").upper() or None,
                 parse_datetime(_xml(text, "startTime")), None, "sidecar")


def dimap(path: str) -> Facts | None:
    text = _read(path)
    if text is None:
        return None
    mission, index = _xml(text, "MISSION"), _xml(text, "MISSION_INDEX")
    found = platform_facts(f"{mission}{index or ''}", "sidecar") if mission else None
    if found is None:
        return None
    day, time = _xml(text, "IMAGING_DATE"), _xml(text, "IMAGING_TIME")
    acquired = parse_datetime(f"{day}T{time}" if day and time else day)
    level = _xml(text, "PROCESSING_LEVEL", "PRODUCT_TYPE")
    return _merge(found, acquired=acquired, product=level)


def maxar_imd(path: str) -> Facts | None:
    text = _read(path)
    if text is None:
        return None
    fields = {k.strip().upper(): v.strip().strip('";') for k, _, v in
              (line.partition("=") for line in text.splitlines()) if _}
    found = platform_facts(fields.get("SATID"), "sidecar")
    if found is None:
        return None
    return _merge(found, acquired=parse_datetime(fields.get("FIRSTLINETIME") or fields.get("EARLIESTACQTIME")),
                  product=fields.get("PRODUCTLEVEL") or fields.get("BANDID"))


def planet_metadata(path: str) -> Facts | None:
    text = _read(path)
    try:
        props = _flatten(json.loads(text), {}) if text else {}
    except ValueError:
        return None
    instrument = str(props.get("INSTRUMENT") or "")
    if not instrument.upper().startswith("PS") and "PLANET" not in str(props.get("PROVIDER", "")).upper():
        return None
    return Facts("planetscope", "planetscope", props.get("ITEM_TYPE"), parse_datetime(props.get("ACQUIRED")),
                 props.get("ID"), "sidecar")


def gaofen_xml(path: str) -> Facts | None:
    text = _read(path)
    if text is None:
        return None
    found = platform_facts(_xml(text, "SatelliteID"), "sidecar")
    if found is None or not (found.sensor or "").startswith("gaofen"):
        return None
    return _merge(found, acquired=parse_datetime(_xml(text, "StartTime", "ReceiveTime")),
                  product=_xml(text, "ProductLevel"))


def _listing(folder: str) -> tuple[str, ...]:
    """File names of a folder, listed once per worker while it is unchanged: probing sidecars
    of each of 10⁵ scenes in one folder must not list that folder 10⁵ times."""
    try:
        stamp = os.stat(folder or ".").st_mtime_ns
    except OSError:
        return ()
    return _listed(folder or ".", stamp)


@functools.lru_cache(maxsize=256)
def _listed(folder: str, stamp: int) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return ()


def _matching(folder: str, pattern: str) -> list[str]:
    return [os.path.join(folder, n) for n in _listing(folder) if fnmatch.fnmatchcase(n, pattern)]


def _parents(path: str, levels: int) -> Iterator[str]:
    folder = os.path.dirname(path)
    for _ in range(levels + 1):
        yield folder
        up = os.path.dirname(folder)
        if up == folder:
            return
        folder = up


def _landsat_candidates(path: str, prefix: str | None) -> list[str]:
    folder = os.path.dirname(path)
    stems = [prefix] if prefix is not None else []
    out = [os.path.join(folder, f"{s}MTL{ext}") for s in stems for ext in (".txt", ".json")]
    if prefix is not None and not any(os.path.isfile(p) for p in out):
        found = _matching(folder, "*_MTL.txt") or _matching(folder, "*_MTL.json")
        out += found if len(found) == 1 else []
    return out


def _candidates(path: str, prefix: str | None) -> Iterator[tuple[str, Callable[[str], Facts | None]]]:
    """(sidecar path, reader) pairs for a raster, nearest first."""
    stem = os.path.splitext(path)[0]
    folder = os.path.dirname(path)
    for candidate in _landsat_candidates(path, prefix):
        yield candidate, landsat_mtl
    yield os.path.join(folder, "tileInfo.json"), sentinel2_tileinfo
    for parent in _parents(path, 4):
        for name in ("MTD_MSIL1C.xml", "MTD_MSIL2A.xml", "MTD_TL.xml"):
            yield os.path.join(parent, name), sentinel2_mtd
        yield os.path.join(parent, "manifest.safe"), sentinel1_manifest
    for candidate in _matching(folder, "DIM_*.XML"):
        yield candidate, dimap
    yield os.path.join(folder, "METADATA.DIM"), dimap
    yield stem + ".IMD", maxar_imd
    yield stem + ".xml", gaofen_xml
    head = "_".join(os.path.basename(stem).split("_")[:3])
    if head:
        for candidate in _matching(folder, glob_escape(head) + "*metadata.json"):
            yield candidate, planet_metadata


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def sidecar_facts(path: str, prefix: str | None = None) -> tuple[str, Facts] | None:
    """``(sidecar path, facts)`` of the first metadata file beside a local raster that names a
    product. ``prefix`` is the file name with its band token removed (``l8_`` for
    ``l8_B4.tif``): per-band files share their product's ``{prefix}MTL.txt``."""
    seen = set()
    for candidate, reader in _candidates(path, prefix):
        folder, name = os.path.split(candidate)
        if candidate in seen or name not in _listing(folder) or not os.path.isfile(candidate):
            continue
        seen.add(candidate)
        facts = reader(candidate)
        if facts is not None and facts.sensor is not None:
            return candidate, facts
    return None
