"""Discover input scenes from directories, globs, list files, STAC JSON, files and URLs.

Discovery only lists; it never opens a raster. Problems with a listing itself (a malformed
STAC file, a missing list file, a symlink escaping its directory) are returned next to the
references so the caller can report them instead of failing the whole run.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import urljoin

from catalogs.store import scheme_of
from pipeline.products.grouping import group_bands
from pipeline.scene import SourceRef
from pipeline.sensors import parse_datetime
from pipeline.uris import is_remote, local_path, normalize_uri, suffix_of

#: Suffixes that look like rasters when walking a directory or expanding a glob.
RASTER_SUFFIXES = (
    ".tif", ".tiff", ".gtif", ".gtiff", ".jp2", ".j2k", ".png", ".jpg", ".jpeg", ".img", ".vrt",
    ".nc", ".hdf", ".hdf5", ".h5", ".he5", ".webp", ".bmp", ".gif", ".ntf", ".nitf", ".kea",
    ".rst", ".bil", ".asc", ".dt2", ".ers", ".ecw", ".sid",
)
LIST_SUFFIXES = (".txt", ".lst")
STAC_SUFFIXES = (".json", ".geojson")
_GLOB_CHARS = re.compile(r"[*?\[]")
_WEB_SCHEMES = ("http", "https", "ftp")  # no listing: name files, lists or STAC instead
_LIST_FIELDS = ("sensor", "label", "acquired")
_TRAILING_FIELD = re.compile(r"\s+(sensor|label|acquired)=(\S+)$")

Problems = list[tuple[str, str]]


def _is_raster_name(name: str, suffixes: Sequence[str]) -> bool:
    lower = name.lower()
    return lower.endswith(tuple(s.lower() for s in suffixes)) and not lower.endswith(".aux.xml")


def _walk(root: str, suffixes: Sequence[str], problems: Problems) -> list[SourceRef]:
    """Recursive listing; symlinks that leave the root are reported, not followed."""
    real_root = os.path.realpath(root)
    refs = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not _inside(os.path.realpath(path), real_root):
                problems.append((root, f"symlink {path} points outside the directory; skipped"))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not _is_raster_name(name, suffixes):
                continue
            if os.path.islink(path) and not _inside(os.path.realpath(path), real_root):
                problems.append((root, f"symlink {path} points outside the directory; skipped"))
                continue
            refs.append(SourceRef(uri=os.path.abspath(path), origin=root))
    return refs


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _parse_list_line(line: str, base: str) -> SourceRef:
    """``uri [sensor=..] [label=..] [acquired=..]``; relative paths are relative to the list."""
    fields = {}
    while match := _TRAILING_FIELD.search(line):
        fields[match.group(1)] = match.group(2)
        line = line[: match.start()]
    uri = line.strip()
    if not scheme_of(uri) and not uri.startswith("/vsi"):
        uri = os.path.normpath(os.path.join(base, os.path.expanduser(uri)))
    return SourceRef(
        uri=uri,
        sensor=fields.get("sensor"),
        label=fields.get("label"),
        acquired=parse_datetime(fields.get("acquired")),
    )


def _read_text(source: str) -> str:
    """Text of a local or remote listing (remote through fsspec)."""
    if is_remote(source):
        import fsspec  # only needed for remote listings

        with fsspec.open(source, "rt", encoding="utf-8") as handle:
            return handle.read()
    with open(local_path(source), encoding="utf-8") as handle:
        return handle.read()


def _from_list(source: str, problems: Problems) -> list[SourceRef]:
    try:
        text = _read_text(source)
    except (OSError, ImportError, UnicodeDecodeError, ValueError) as exc:
        problems.append((source, f"list file could not be read: {exc}"))
        return []
    base = os.path.dirname(os.path.abspath(local_path(source))) if not is_remote(source) else ""
    refs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            refs.append(replace(_parse_list_line(line, base), origin=source))
    return refs


def _resolve_href(href: str, json_source: str) -> str:
    if scheme_of(href) or href.startswith("/vsi") or os.path.isabs(href):
        return local_path(href) if scheme_of(href) == "file" else href
    if is_remote(json_source):
        return urljoin(json_source, href)
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(json_source)), href))


def _pick_asset(assets: dict, wanted: Sequence[str]) -> str | None:
    """First of ``wanted`` that is an asset key, else the first asset (by key) with that role."""
    for name in wanted:
        if isinstance(assets.get(name), dict):
            return name
        for key in sorted(assets):
            if isinstance(assets[key], dict) and name in (assets[key].get("roles") or []):
                return key
    return None


def _sensor_hint(props: dict) -> str | None:
    instruments = props.get("instruments") or []
    for value in (props.get("constellation"), props.get("platform"), *instruments):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _from_item(item: dict, source: str, wanted: Sequence[str], problems: Problems) -> list[SourceRef]:
    item_id = item.get("id", "?")
    assets = item.get("assets")
    if not isinstance(assets, dict) or not assets:
        problems.append((source, f"STAC item {item_id} has no assets"))
        return []
    key = _pick_asset(assets, wanted)
    if key is None or not isinstance(assets[key].get("href"), str):
        problems.append(
            (source, f"STAC item {item_id}: no asset named or with role in {list(wanted)} "
                     f"(assets: {sorted(assets)})")
        )
        return []
    props = item.get("properties") or {}
    label = props.get("label")
    return [
        SourceRef(
            uri=_resolve_href(assets[key]["href"], source),
            sensor=_sensor_hint(props),
            acquired=parse_datetime(props.get("datetime") or props.get("start_datetime")),
            label=label if isinstance(label, str) else None,
            origin=f"{source}#{item_id}",
        )
    ]


def _from_stac(source: str, wanted: Sequence[str], problems: Problems, seen: set) -> list[SourceRef]:
    """Items, item collections, and local catalogs/collections (their item and child links)."""
    if source in seen:
        return []
    seen.add(source)
    try:
        doc = json.loads(_read_text(source))
    except (OSError, ImportError, UnicodeDecodeError, ValueError) as exc:
        problems.append((source, f"STAC JSON could not be read: {exc}"))
        return []
    if not isinstance(doc, dict):
        problems.append((source, "STAC JSON is not an object"))
        return []
    kind = doc.get("type")
    if kind == "FeatureCollection" or isinstance(doc.get("features"), list):
        refs = []
        for item in doc.get("features") or []:
            if isinstance(item, dict):
                refs += _from_item(item, source, wanted, problems)
            else:
                problems.append((source, "FeatureCollection entry is not an object"))
        return refs
    if kind == "Feature" or "assets" in doc and kind not in ("Collection", "Catalog"):
        return _from_item(doc, source, wanted, problems)
    if kind in ("Collection", "Catalog"):
        refs = []
        for link in doc.get("links") or []:
            if isinstance(link, dict) and link.get("rel") in ("item", "child") and link.get("href"):
                refs += _from_stac(_resolve_href(link["href"], source), wanted, problems, seen)
        return refs
    problems.append((source, f"not a STAC Item, ItemCollection or Catalog (type={kind!r})"))
    return []


def _from_input(text: str, wanted: Sequence[str], suffixes: Sequence[str], problems: Problems) -> list[SourceRef]:
    suffix = suffix_of(text)
    if suffix in LIST_SUFFIXES:
        return _from_list(text, problems)
    if suffix in STAC_SUFFIXES:
        return _from_stac(text, wanted, problems, set())
    if is_remote(text) and scheme_of(text) not in _WEB_SCHEMES and (text.endswith("/") or _GLOB_CHARS.search(text)):
        return _from_object_listing(text, suffixes, problems)
    if is_remote(text) or text.startswith("/vsi"):
        return [SourceRef(uri=text, origin=text)]
    path = os.path.expanduser(local_path(text))
    if os.path.isdir(path):
        return _walk(path, suffixes, problems)
    if os.path.exists(path) or os.path.islink(path):
        return [SourceRef(uri=os.path.abspath(path), origin=text)]
    if _GLOB_CHARS.search(path):
        matches = sorted(glob.glob(path, recursive=True))
        refs = [SourceRef(uri=os.path.abspath(m), origin=text)
                for m in matches if os.path.isfile(m) and _is_raster_name(m, suffixes)]
        if not refs:
            problems.append((text, "glob matched no raster files"))
        return refs
    problems.append((text, "input not found"))
    return []


def _from_object_listing(text: str, suffixes: Sequence[str], problems: Problems) -> list[SourceRef]:
    """The raster objects under an object-store prefix (``s3://b/raw/``) or glob (``s3://b/*.tif``)."""
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(text)
        names = fs.glob(path) if _GLOB_CHARS.search(path) else fs.find(path)
    except Exception as exc:  # noqa: BLE001 - a listing failure is reported, the run goes on
        problems.append((text, f"could not list: {type(exc).__name__}: {exc}"))
        return []
    scheme = scheme_of(text)
    refs = [SourceRef(uri=f"{scheme}://{name}", origin=text)
            for name in sorted(names) if _is_raster_name(name, suffixes)]
    if not refs:
        problems.append((text, "matched no raster objects"))
    return refs


def _merge(refs: Iterable[SourceRef]) -> list[SourceRef]:
    """One ref per normalized URI; hints merged field by field, first non-empty in sort order."""
    groups: dict[str, list[SourceRef]] = {}
    for ref in refs:
        groups.setdefault(normalize_uri(ref.uri), []).append(ref)
    merged = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda r: (r.origin, r.uri))
        first = group[0]
        fields = {
            name: next((getattr(r, name) for r in group if getattr(r, name) is not None), None)
            for name in _LIST_FIELDS
        }
        uri = key if not is_remote(first.uri) and not first.uri.startswith("/vsi") else first.uri
        merged.append(replace(first, uri=uri, **fields))
    return merged


def discover(
    inputs: Sequence[str],
    *,
    stac_assets: Sequence[str] = ("visual", "data", "image"),
    suffixes: Sequence[str] = RASTER_SUFFIXES,
    group: bool = True,
) -> tuple[list[SourceRef], list[tuple[str, str]]]:
    """Expand ``inputs`` into scene references, sorted and de-duplicated by normalized URI.

    Each input is a directory (walked recursively for ``suffixes``), a ``.txt``/``.lst`` list
    of URIs, a STAC Item / ItemCollection / Catalog JSON (the asset is chosen by key or role
    from ``stac_assets``), a glob, or a single file or URL. Returns ``(refs, problems)`` where
    ``problems`` holds ``(input, message)`` for listings that could not be read. With
    ``group``, the per-band files of one product become one ref with ``members``
    (:func:`pipeline.products.grouping.group_bands`).
    """
    if isinstance(inputs, str):
        inputs = [inputs]
    problems: Problems = []
    refs: list[SourceRef] = []
    for text in inputs:
        refs += _from_input(str(text), stac_assets, suffixes, problems)
    refs = _merge(refs)
    return (group_bands(refs) if group else refs), problems
