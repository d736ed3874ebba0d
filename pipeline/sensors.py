"""Sensor rules: recognise a scene's sensor from its path (or a listing's hint) and date it.

Rules are data (``pipeline.scene.SensorRule``) so a YAML config can add or replace them; the
defaults below recognise common product naming schemes and end with a catch-all "unknown".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from fnmatch import fnmatchcase

from pipeline.encode import FORMATS
from pipeline.scene import SensorRule

#: Settings per sensor name; which sensor a scene is comes from the product registry
#: (``pipeline.products``), so these rules have no glob (``pattern=""``: matched by name only)
#: and the catch-all "unknown" comes last. Samples keep native values; SAR rules say how a
#: display (uint8) corpus is stretched: dB percentiles 0.5/99.5 (speckle tails are long, so
#: tighter percentiles clip several % of a tile).
_SAR = dict(scaling="sar_db", percentiles=(0.5, 99.5))
DEFAULT_RULES: tuple[SensorRule, ...] = (
    SensorRule(name="sentinel1", pattern="", **_SAR),
    SensorRule(name="iceye", pattern="", **_SAR),
    SensorRule(name="capella", pattern="", **_SAR),
    SensorRule(name="unknown", pattern="*"),
)

UNKNOWN = SensorRule(name="unknown", pattern="*")

_SCALINGS = ("auto", "none", "percentile", "sar_db", "minmax")
_SCALES = ("native", "display")
_SARS = (None, "amplitude", "linear", "db")
_FORMATS = ("auto", *FORMATS)


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def by_hint(hint: str, rules: Sequence[SensorRule]) -> SensorRule | None:
    """The rule a sensor name or listing hint names: "Sentinel-2A" names "sentinel2" (longest
    name wins)."""
    want = _squash(hint)
    named = [r for r in rules if _squash(r.name) and want.startswith(_squash(r.name))]
    return max(named, key=lambda r: len(_squash(r.name))) if named else None


def match_rule(uri: str, rules: Sequence[SensorRule] = DEFAULT_RULES, hint: str | None = None) -> SensorRule:
    """The rule for ``uri``: a hint naming a rule wins, else the first glob match, else unknown.

    Globs match the whole URI case-insensitively (backslashes read as slashes), so patterns
    usually start with ``*``; a rule with an empty pattern is found by name only.
    """
    if hint:
        named = by_hint(hint, rules)
        if named is not None:
            return named
    path = uri.replace("\\", "/").lower()
    for rule in rules:
        if rule.pattern and fnmatchcase(path, rule.pattern.lower()):
            return rule
    return UNKNOWN


def _check_rule(rule: SensorRule) -> None:
    if rule.scaling not in _SCALINGS:
        raise ValueError(f"sensor rule {rule.name!r}: scaling must be one of {_SCALINGS}")
    if rule.scale not in _SCALES:
        raise ValueError(f"sensor rule {rule.name!r}: scale must be one of {_SCALES}")
    if rule.sar not in _SARS:
        raise ValueError(f"sensor rule {rule.name!r}: sar must be one of {_SARS[1:]} (or unset)")
    if rule.format not in _FORMATS:
        raise ValueError(f"sensor rule {rule.name!r}: format must be one of {_FORMATS}")
    if rule.bands is not None and not all(isinstance(b, (int, str)) and not isinstance(b, bool) for b in rule.bands):
        raise ValueError(f"sensor rule {rule.name!r}: bands are 1-based indexes or band names")
    if rule.bands is not None and rule.band_names is not None and len(rule.bands) != len(rule.band_names):
        raise ValueError(f"sensor rule {rule.name!r}: bands and band_names differ in length")
    if rule.acquired_pattern is not None:
        if "date" not in re.compile(rule.acquired_pattern).groupindex:
            raise ValueError(f"sensor rule {rule.name!r}: acquired_pattern needs a (?P<date>...) group")


_LEGACY_SCALE = {"native": "native", "uint8": "display"}


def _legacy_out_dtype(item: Mapping) -> Mapping:
    """Configs written before ``scale`` said ``out_dtype: native | uint8``: read them as
    ``scale: native | display`` (native is now the default)."""
    if "out_dtype" not in item:
        return item
    value = item["out_dtype"]
    if value not in _LEGACY_SCALE:
        raise ValueError(f"sensor rule {item['name']!r}: out_dtype must be one of {tuple(_LEGACY_SCALE)} "
                         "(or use scale: native | display)")
    if "scale" in item and item["scale"] != _LEGACY_SCALE[value]:
        raise ValueError(f"sensor rule {item['name']!r}: out_dtype {value} contradicts scale {item['scale']}")
    return {**{k: v for k, v in item.items() if k != "out_dtype"}, "scale": _LEGACY_SCALE[value]}


def rules_from_dicts(items: Sequence[Mapping]) -> tuple[SensorRule, ...]:
    """Rules from YAML-style dicts; ``pattern`` may be a list of globs (one rule per glob).

    Without a ``pattern``, a rule named like a registry sensor (``sentinel2``, ``landsat8``)
    configures the scenes recognized as that sensor (pattern ``""``); any other name is a
    catch-all (``"*"``) that names every scene it reaches.

    Unknown keys and invalid values raise ``ValueError`` naming the rule, so a typo in a config
    fails at load time rather than silently using defaults.
    """
    known = {f.name for f in dataclasses.fields(SensorRule)}
    tuple_fields = ("bands", "band_names", "percentiles", "db_range")
    rules: list[SensorRule] = []
    for item in items:
        if "name" not in item:
            raise ValueError(f"sensor rule without a name: {dict(item)}")
        item = _legacy_out_dtype(item)
        unknown = set(item) - known
        if unknown:
            raise ValueError(f"sensor rule {item['name']!r}: unknown keys {sorted(unknown)}")
        fields = {k: (tuple(v) if k in tuple_fields and v is not None else v) for k, v in item.items()}
        patterns = fields.pop("pattern", "" if _is_registry_sensor(str(item["name"])) else "*")
        for pattern in [patterns] if isinstance(patterns, str) else list(patterns):
            rule = SensorRule(pattern=pattern, **fields)
            _check_rule(rule)
            rules.append(rule)
    return tuple(rules)


def _is_registry_sensor(name: str) -> bool:
    from pipeline.products.bands import BANDS  # the registry's sensor names

    return name in BANDS


_FORMATS_DT = (
    "%Y:%m:%d %H:%M:%S",  # TIFFTAG_DATETIME
    "%Y%m%dT%H%M%S",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
)


def parse_datetime(text: str | None) -> datetime | None:
    """Parse the date spellings found in tags, file names and STAC; always UTC-aware, or None."""
    if not text:
        return None
    text = str(text).strip()
    value = None
    for fmt in _FORMATS_DT:
        try:
            value = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if value is None:
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        # Python < 3.11 rejects fractional seconds that are not 3 or 6 digits.
        iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)
        try:
            value = datetime.fromisoformat(iso)
        except ValueError:
            return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


#: GDAL tag names holding an acquisition time, most specific first (TIFFTAG_DATETIME is often
#: the processing time, so it comes last).
DATE_TAGS = (
    "ACQUISITIONDATETIME",
    "ACQUISITION_DATETIME",
    "ACQUISITION_DATE",
    "DATE_ACQUIRED",
    "SENSING_TIME",
    "PRODUCT_START_TIME",
    "DATETIME",
    "TIFFTAG_DATETIME",
)


def acquired_from(uri: str, tags: Mapping[str, str] | None, rule: SensorRule) -> datetime | None:
    """When the scene was acquired: the rule's regex on the path, else GDAL tags, else None."""
    if rule.acquired_pattern:
        match = re.search(rule.acquired_pattern, uri.replace("\\", "/"), flags=re.IGNORECASE)
        if match and match.group("date"):
            found = parse_datetime(match.group("date"))
            if found is not None:
                return found
    upper = {str(k).upper(): v for k, v in (tags or {}).items()}
    for key in DATE_TAGS:
        found = parse_datetime(upper.get(key))
        if found is not None:
            return found
    return None
