"""Per-band files of one product become one source: names that differ only by a band token.

Discovery never opens a raster, so grouping is decided on names alone: files in one folder whose
names are equal once the band token (``B4``, ``SR_B4``, ``B8A``, ``BAND5``, ``VV``, ``BQA``,
``QA_PIXEL``, ``SCL``...) is taken out, with the same suffix. Ingest then checks what names
cannot (same CRS, overlapping bounds) and rejects a group that fails, naming the member.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import replace

from pipeline.scene import SourceRef

BAND_PLACEHOLDER = "{band}"
_TOKEN = re.compile(
    r"(?:(?<=[_.-])|^)(?:(?:SR|ST)_)?(?P<band>B\d{1,2}A?|BAND\d{1,2}|BQA|QA_PIXEL|SCL|VV|VH|HH|HV)"
    r"(?=$|[_.-])", re.IGNORECASE)
QA_TOKENS = frozenset({"BQA", "QA_PIXEL", "SCL"})
_POLARIZATIONS = frozenset({"VV", "VH", "HH", "HV"})
_IMAGE_NUMBER = re.compile(r"-\d{3}(\.[A-Za-z0-9]+)$")


def split_band(name: str) -> tuple[str, str, str] | None:
    """``(before, band, after)`` of the last band token in a file name, suffix kept in ``after``.

    ``LC08_..._T1_SR_B4.TIF`` -> (``LC08_..._T1_``, ``B4``, ``.TIF``); None without a token.
    """
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    # a token right after "<digit>-" ends a range ("B2-B5_stack"), it names no single band
    matches = [m for m in _TOKEN.finditer(stem) if not re.search(r"\d-$", stem[: m.start()])
               and not re.match(r"-(?:B|BAND)\d", stem[m.end():], re.IGNORECASE)]
    if not matches:
        return None
    m = matches[-1]
    return stem[: m.start()], m.group("band").upper(), stem[m.end():] + (dot + ext if dot else "")


def _split_uri(uri: str) -> tuple[str, str]:
    folder, _, name = uri.replace("\\", "/").rpartition("/")
    return folder, name


def group_bands(refs: Sequence[SourceRef]) -> list[SourceRef]:
    """``refs`` with each product's band files replaced by one ref holding them as ``members``.

    The group's ``uri`` is the member name pattern (``/d/l8_{band}.tif``): a stable identity for
    records and messages, not a file. Listing hints (sensor, date, label) of members carry over.
    """
    groups: dict[tuple[str, str, str], list[tuple[str, SourceRef]]] = {}
    singles: list[SourceRef] = []
    for ref in refs:
        folder, name = _split_uri(ref.uri)
        parts = split_band(name)
        if parts is None:
            singles.append(ref)
            continue
        before, band, after = parts
        if band in _POLARIZATIONS:  # Sentinel-1 SAFE: s1a-iw-grd-vv-...-001.tiff, ...-vh-...-002.tiff
            after = _IMAGE_NUMBER.sub(r"\1", after)
        groups.setdefault((folder, before, after), []).append((band, ref))
    out = list(singles)
    for (folder, before, after), members in groups.items():
        bands = [b for b, _ in members]
        if len(members) < 2 or len(set(bands)) != len(bands) or set(bands) <= QA_TOKENS:
            out.extend(ref for _, ref in members)
            continue
        members.sort(key=lambda m: m[1].uri)
        first = members[0][1]
        hints = {name: next((getattr(r, name) for _, r in members if getattr(r, name) is not None), None)
                 for name in ("sensor", "acquired", "label")}
        uri = posixpath.join(folder, before + BAND_PLACEHOLDER + after) if folder else before + BAND_PLACEHOLDER + after
        out.append(replace(first, uri=uri, members=tuple((b, r.uri) for b, r in members), **hints))
    return sorted(out, key=lambda r: r.uri)


def member_prefix(group_uri: str) -> str:
    """The member file-name stem before the band token (``l8_`` for ``/d/l8_{band}.tif``)."""
    return _split_uri(group_uri)[1].split(BAND_PLACEHOLDER, 1)[0]
