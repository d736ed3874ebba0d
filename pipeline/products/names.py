"""Product naming conventions: which family a file or folder name belongs to and what it says.

One row per convention: a regular expression that finds the product identifier in a path,
and a small decoder turning its groups into ``Facts``. Names are matched on the file name
first, then on the enclosing folders, but only product identifiers count (a SAFE folder, a
Landsat product id, a Sentinel-2 tile path): a generic word such as ``aerial`` in a folder
name says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from pipeline.products.facts import Facts, compact_date, day_of_year, platform_facts, utc

_NB = r"(?<![A-Za-z0-9])"  # a name starts at a separator
_DATE = re.compile(r"(?<!\d)((?:19|20)\d{6})(?:T?(\d{6}))?(?!\d)")
_S1_ID = re.compile(r"S1[ABCD]_\w\w_\w{4}_\w{4}_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}", re.IGNORECASE)


@dataclass(frozen=True)
class Convention:
    family: str
    pattern: re.Pattern
    decode: Callable[[re.Match, str], Facts]
    basename_only: bool = False


def _first_date(text: str):
    match = _DATE.search(text)
    return compact_date(match.group(1) + (match.group(2) or "")) if match else None


def _landsat_sensor(letter: str, number: str) -> tuple[str, str]:
    letter = letter.upper()
    return (f"landsat{number}mss" if letter == "M" else f"landsat{number}"), f"landsat-{number}"


def _landsat_collection(m: re.Match, _: str) -> Facts:
    sensor, platform = _landsat_sensor(m["kind"], m["n"])
    return Facts(sensor, platform, m["level"].upper(), compact_date(m["date"]), m.group(0))


def _landsat_scene(m: re.Match, _: str) -> Facts:
    sensor, platform = _landsat_sensor(m["kind"], m["n"])
    return Facts(sensor, platform, None, day_of_year(m["year"], m["doy"]), m.group(0))


def _s2_safe(m: re.Match, _: str) -> Facts:
    return Facts("sentinel2", f"sentinel-2{m['unit'].lower()}", f"MSI{m['level'].upper()}",
                 compact_date(m["when"]), m.group(0))


def _s2_granule(m: re.Match, _: str) -> Facts:
    return Facts("sentinel2", "sentinel-2", None, compact_date(m["when"]))


def _s2_loose(m: re.Match, name: str) -> Facts:
    unit = (m["unit"] or "").lower()
    level = m["level"].upper() if m["level"] else None
    return Facts("sentinel2", f"sentinel-2{unit}", f"MSI{level}" if level else None,
                 _first_date(name[m.start():]))


def _s2_tile_path(m: re.Match, path: str) -> Facts:
    level = re.search(r"sentinel-s2-(l1c|l2a)", path, re.IGNORECASE)
    return Facts("sentinel2", "sentinel-2", f"MSI{level.group(1).upper()}" if level else None,
                 utc(int(m["y"]), int(m["m"]), int(m["d"])))


def _s1(m: re.Match, name: str) -> Facts:
    rest = name[m.start():]
    product = "RTC" if re.search(r"(?<![A-Za-z])RTC", rest, re.IGNORECASE) else m["product"]
    full = _S1_ID.match(rest)
    return Facts("sentinel1", f"sentinel-1{m['unit'].lower()}", product and product.upper(),
                 _first_date(rest), full.group(0) if full else None)


def _cbers(m: re.Match, _: str) -> Facts:
    sat = m["sat"].lower()
    return Facts(f"cbers{sat}", f"cbers-{sat}", f"{m['camera'].upper()}_{m['level'].upper()}",
                 compact_date(m["date"]))


def _goes(m: re.Match, _: str) -> Facts:
    when = day_of_year(m["year"], m["doy"], int(m["hh"]), int(m["mm"]), int(m["ss"]))
    return Facts(f"goes{m['sat']}", f"goes-{m['sat']}", f"ABI-{m['level']}-{m['prod']}", when)


def _naip(m: re.Match, _: str) -> Facts:
    return Facts("naip", "aircraft", "naip", compact_date(m["date"]), m.group(0))


def _planet(m: re.Match, _: str) -> Facts:
    return Facts("planetscope", "planetscope", f"{m['level']}_{m['asset']}",
                 compact_date(m["date"] + m["time"]), m.group(0))


_MAXAR_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}


def _maxar(m: re.Match, _: str) -> Facts:
    month = _MAXAR_MONTHS.get(m["mon"].upper())
    hms = m["hms"]
    when = utc(2000 + int(m["yy"]), month, int(m["dd"]), int(hms[:2]), int(hms[2:4]), int(hms[4:])) if month else None
    return Facts("maxar", None, f"{m['kind'].upper()}{m['level'].upper()}", when, m.group(0))


_CATALOG_PREFIX = {"101": "QB02", "102": "WV01", "103": "WV02", "104": "WV03", "105": "GE01", "106": "WV04"}


def _maxar_catalog(m: re.Match, name: str) -> Facts:
    found = platform_facts(_CATALOG_PREFIX[m["prefix"]], "name")
    return replace(found, acquired=_first_date(name), product_id=m.group(0), source=None)


def _maxar_token(m: re.Match, name: str) -> Facts:
    found = platform_facts(m["sat"], "name")
    return replace(found, acquired=_first_date(name), source=None)


def _dimap(m: re.Match, _: str) -> Facts:
    found = platform_facts(m["sat"], "name") or Facts()
    hms = m["hms"]
    when = compact_date(m["date"] + hms)
    return Facts(found.sensor, found.platform, m["mode"].upper(), when)


def _gaofen(m: re.Match, _: str) -> Facts:
    return Facts(f"gaofen{m['n']}", f"gaofen-{m['n']}", f"{m['camera'].upper()}_L{m['level'].upper()}",
                 compact_date(m["date"]), m.group(0))


def _modis(m: re.Match, _: str) -> Facts:
    platform = {"MOD": "terra", "MYD": "aqua", "MCD": "terra+aqua"}[m["sat"].upper()]
    return Facts("modis", platform, (m["sat"] + m["prod"]).upper(), day_of_year(m["year"], m["doy"]),
                 m.group(0).rstrip("."))


def _dji(m: re.Match, _: str) -> Facts:
    return Facts("drone", "dji", None, None)


def _iceye(m: re.Match, name: str) -> Facts:
    return Facts("iceye", f"iceye-{m['unit'].lower()}", m["product"] and m["product"].upper(),
                 _first_date(name))


def _capella(m: re.Match, name: str) -> Facts:
    return Facts("capella", f"capella-{m['unit'].lower()}", m["product"] and m["product"].upper(),
                 _first_date(name))


def _c(family, pattern, decode, basename_only=False) -> Convention:
    return Convention(family, re.compile(pattern, re.IGNORECASE), decode, basename_only)


#: Most specific first: a full product id beats a loose token.
CONVENTIONS: tuple[Convention, ...] = (
    _c("landsat", _NB + r"L(?P<kind>[CTEOM])0(?P<n>[1-9])_(?P<level>L1TP|L1GT|L1GS|L2SP|L2SR)_\d{6}_"
       r"(?P<date>\d{8})_\d{8}_\d{2}_(?:T1|T2|RT)", _landsat_collection),
    _c("landsat", _NB + r"L(?P<kind>[CTEOM])(?P<n>[1-9])\d{6}(?P<year>\d{4})(?P<doy>\d{3})[A-Z]{3}\d{2}"
       r"(?![A-Za-z0-9])", _landsat_scene),
    _c("sentinel2", _NB + r"S2(?P<unit>[ABCD])_MSI(?P<level>L1C|L2A)_(?P<when>\d{8}T\d{6})_", _s2_safe),
    _c("sentinel2", _NB + r"T\d{2}[C-X][A-Z]{2}_(?P<when>\d{8}T\d{6})_(?:B\d{2}|B8A|TCI|SCL|AOT|WVP)",
       _s2_granule),
    _c("sentinel2", _NB + r"S2(?P<unit>[ABCD])?_(?:MSI)?(?:(?P<level>L1C|L2A)_)?(?:[^/]*?_)?"
       r"T\d{2}[C-X][A-Z]{2}(?![A-Za-z0-9])", _s2_loose, basename_only=True),
    _c("sentinel2", r"(?:^|/)tiles/\d{1,2}/[C-X]/[A-Z]{2}/(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})/\d+(?:/|$)",
       _s2_tile_path),
    _c("sentinel1", _NB + r"S1(?P<unit>[ABCD])_(?:(?:IW|EW|SM|WV|S[1-6])_)?(?:(?P<product>GRD|SLC|OCN|RAW|RTC)"
       r"(?:[FHM_]|(?![A-Za-z])))?", _s1),
    _c("sentinel1", _NB + r"s1(?P<unit>[abcd])-(?:iw|ew|sm|wv|s[1-6])\d?-(?P<product>grd|slc|ocn)-"
       r"(?:vv|vh|hh|hv)-", _s1),
    _c("cbers", _NB + r"CBERS_?(?P<sat>4A|4)_(?P<camera>MUX|WFI|PAN5M|PAN10M|AWFI|WPM|IRS)_(?P<date>\d{8})_"
       r"\d{3}_\d{3}_(?P<level>L\d)", _cbers),
    _c("goes", r"OR_ABI-(?P<level>L1b|L2)-(?P<prod>[A-Za-z]+)(?:-M\d(?:C\d{2})?)?_G(?P<sat>1[6-9])_"
       r"s(?P<year>\d{4})(?P<doy>\d{3})(?P<hh>\d{2})(?P<mm>\d{2})(?P<ss>\d{2})", _goes),
    _c("naip", _NB + r"m_\d{7}_(?:ne|nw|se|sw)_\d{2}_\d{1,3}_(?P<date>(?:19|20)\d{6})", _naip),
    _c("planetscope", r"(?<!\d)(?P<date>20\d{6})_(?P<time>\d{6})(?:_\d{2})?_[0-9a-f]{4}_(?P<level>[123]B)_"
       r"(?P<asset>(?:Basic)?Analytic\w*|Visual\w*)", _planet),
    _c("maxar", r"(?<!\d)(?P<yy>\d{2})(?P<mon>[A-Z]{3})(?P<dd>\d{2})(?P<hms>\d{6})-(?P<kind>[MPS]\d)"
       r"(?P<level>[A-Z0-9]{2,4})-\d{12}_\d{2}_P\d{3}", _maxar),
    _c("maxar", r"(?<![0-9A-F])(?P<prefix>10[1-6])00(?:10|01)[0-9A-F]{9}(?![0-9A-F])", _maxar_catalog),
    _c("maxar", _NB + r"(?P<sat>WV0?[1-4]|WorldView-?[1-4]|GE0?1|GeoEye-?1|QB0?2)(?![A-Za-z0-9])",
       _maxar_token, basename_only=True),
    _c("dimap", _NB + r"(?:DIM|IMG)_(?P<sat>SPOT[4-7]|PHR1[AB])_(?P<mode>P|MS|PMS|MS-FS|PMS-N|PMS-FS)_"
       r"(?P<date>\d{8})(?P<hms>\d{6})", _dimap),
    _c("gaofen", _NB + r"GF(?P<n>[1-7])_(?P<camera>PMS[12]|WFV[1-4]|PMI|MUX|PAN|IRS|WFI|DMC)_E\d+(?:\.\d+)?_"
       r"N\d+(?:\.\d+)?_(?P<date>\d{8})_L(?P<level>\w\w)", _gaofen),
    _c("modis", _NB + r"(?P<sat>MOD|MYD|MCD)(?P<prod>\d{2}[A-Z0-9]*)\.A(?P<year>\d{4})(?P<doy>\d{3})\.", _modis),
    _c("iceye", _NB + r"ICEYE_(?P<unit>X\d+)_(?:(?P<product>GRD|SLC|SLH|SLF|SM|SL|SC|SLEA)\w*)?", _iceye),
    _c("capella", _NB + r"CAPELLA_(?P<unit>C\d{2})_(?:\w+?_)?(?P<product>GEC|GEO|SLC|SICD|SIDD)?", _capella),
    _c("drone", r"^DJI_\d{4}\.(?:jpe?g|dng|tiff?)$", _dji, basename_only=True),
)


def _scan(text: str, whole_path: bool) -> tuple[str, Facts] | None:
    for conv in CONVENTIONS:
        if whole_path and conv.basename_only:
            continue
        match = conv.pattern.search(text)
        if match:
            facts = conv.decode(match, text)
            if facts.sensor is not None:
                return conv.family, replace(facts, source="name")
    return None


def _fill(first: Facts, other: Facts) -> Facts:
    """``first`` with the gaps filled from ``other`` (same sensor; the more specific platform)."""
    if other.sensor != first.sensor:
        return first
    platform = max((p for p in (first.platform, other.platform) if p), key=len, default=None)
    return replace(first, platform=platform, product=first.product or other.product,
                   acquired=first.acquired or other.acquired, product_id=first.product_id or other.product_id)


def name_facts(path: str) -> tuple[str, Facts] | None:
    """``(family, facts)`` of the file name's convention, completed by the product folder's
    (a SAFE folder names the platform and level its band files leave out)."""
    path = path.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    folder = path[: len(path) - len(name)]
    by_name = _scan(name, False)
    by_path = _scan(folder, True) if folder else None
    if by_name is None:
        return by_path
    return by_name[0], _fill(by_name[1], by_path[1]) if by_path else by_name[1]
