"""Which sensor a scene is, and which bands it keeps: the registry's answer, the user's rules.

The product registry (:mod:`pipeline.products`) says what the evidence says; sensor rules
(``pipeline.sensors``, YAML ``sensors:``) decide what to do with it. A user rule whose glob
matches the input overrides the registry's sensor (``sensor_source = "rule"``); a rule named
like a registry sensor (``sentinel2``) only configures scenes recognized as that sensor.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from catalogs.keys import scene_id_for, scene_id_for_unreadable
from catalogs.store import Store
from pipeline.products.bands import DEFAULT_BANDS, band_order, find_band
from pipeline.products.grouping import member_prefix
from pipeline.products.identify import Identity, identify
from pipeline.products.stack import read_member, stack_vrt
from pipeline.scene import SceneError, SensorRule, SourceRef
from pipeline.sensors import UNKNOWN, by_hint, match_rule
from pipeline.uris import is_remote

#: QA kinds of band tokens when the product's sensor is not known.
_QA_BY_TOKEN = {"BQA": "landsat_bqa", "QA_PIXEL": "landsat_qa_pixel", "SCL": "s2_scl"}


@dataclass(frozen=True)
class Decision:
    sensor: str
    source: str | None  # stac | list | sidecar | tags | name | gsd | rule; None for "unknown"
    rule: SensorRule  # the rule whose settings (scaling, bands, format) the scene uses


def hint_source(ref: SourceRef) -> str:
    return "stac" if "#" in ref.origin else "list"


def decide(path: str, rules: Sequence[SensorRule], identity: Identity, hint: str | None = None,
           source_of_hint: str = "stac") -> Decision:
    """User glob rules first, then the registry's identification, then an unknown listing hint,
    then catch-all rules (a bare ``*`` names only what nothing else recognized)."""
    lower = path.replace("\\", "/").lower()
    for rule in rules:
        if rule.pattern not in ("", "*") and rule.name != UNKNOWN.name \
                and fnmatchcase(lower, rule.pattern.lower()):
            return Decision(rule.name, "rule", rule)
    if identity.sensor is not None:
        return Decision(identity.sensor, identity.sensor_source, match_rule(path, rules, hint=identity.sensor))
    named = by_hint(hint, rules) if hint else None
    if named is not None:
        return Decision(named.name, source_of_hint, named)
    fallback = match_rule(path, rules)
    return Decision(fallback.name, "rule" if fallback.name != UNKNOWN.name else None, fallback)


def _qa_kind(sensor: str, token: str) -> str | None:
    band = find_band(sensor, token)
    return band.qa if band is not None else _QA_BY_TOKEN.get(token.upper())


def select_bands(group: str, sensor: str, rule: SensorRule, members: Sequence[tuple[str, str]]
                 ) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """``([(band name, uri)...] in stacking order, (qa_kind, qa uri) or None)`` of a product.

    Names come from the registry (the token itself when the sensor is unknown); a rule's band
    names select and order the bands, else the registry's default selection when the product
    has any of it, else every image band in registry order.
    """
    images, qa = [], None
    for token, uri in members:
        kind = _qa_kind(sensor, token)
        if kind is not None:
            qa = qa or (kind, uri)
            continue
        band = find_band(sensor, token)
        images.append((band.name if band is not None else token, uri))
    images.sort(key=lambda m: (band_order(sensor, m[0]), m[0]))
    wanted = [b for b in (rule.bands or ()) if isinstance(b, str)]
    if wanted:
        by_name = {name.upper(): (name, uri) for name, uri in images}
        chosen = []
        for name in wanted:
            band = find_band(sensor, name)
            key = (band.name if band is not None else name).upper()
            if key not in by_name:
                raise SceneError(group, f"rule {rule.name!r} selects band {name} but the product has "
                                        f"{', '.join(n for n, _ in images)}")
            chosen.append(by_name[key])
        return chosen, qa
    default = set(DEFAULT_BANDS.get(sensor, ()))
    kept = [m for m in images if m[0] in default]
    return (kept or images), qa


@dataclass(frozen=True)
class Product:
    """A grouped product ready to be described like any scene: its VRT and identity."""

    vrt_uri: str
    scene_id: str
    checksum: str
    identity: Identity
    decision: Decision
    band_names: tuple[str, ...]
    qa_uri: str | None
    qa_kind: str | None


def default_product_dir() -> str:
    """Where VRTs go outside a build (tests, one-off reads): a folder in the temp directory."""
    return os.path.join(tempfile.gettempdir(), "ringmo-products")


def prepare_product(ref: SourceRef, rules: Sequence[SensorRule], *, product_dir: str | None,
                    checksum: Callable[[str], str] | None) -> Product:
    """Identify a group of band files, select its bands and write its VRT to ``product_dir``.

    The checksum (hence the scene id) is a digest of the selected members' checksums and band
    names: the same files give the same scene wherever the VRT is written.
    """
    first = ref.members[0][1]
    identity = identify(first, None, hint=ref.sensor, hint_source=hint_source(ref),
                        prefix=member_prefix(ref.uri), local=not is_remote(first))
    decision = decide(ref.uri, rules, identity, ref.sensor, hint_source(ref))
    images, qa = select_bands(ref.uri, decision.sensor, decision.rule, ref.members)
    members = [read_member(name, uri, ref.uri) for name, uri in images]
    if checksum is not None:
        lines = [f"{name}={checksum(uri)}\n" for name, uri in images]
        lines += [f"qa:{qa[0]}={checksum(qa[1])}\n"] if qa else []
        digest = "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()
        scene_id = scene_id_for(digest)
    else:
        digest, scene_id = "", scene_id_for_unreadable(ref.uri)
    metadata = {"PRODUCT_ID": identity.product_id} if identity.product_id else None
    xml = stack_vrt(members, ref.uri, metadata)
    store = Store(product_dir or default_product_dir())
    name = f"{scene_id}.vrt"
    if not store.exists(name) or store.read_bytes(name) != xml.encode():
        store.write_bytes(name, xml.encode())
    return Product(store.url(name), scene_id, digest, identity, decision,
                   tuple(m.band for m in members), qa[1] if qa else None, qa[0] if qa else None)
