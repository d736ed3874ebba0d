"""``ringmo validate``: prove a corpus is whole, or name every file where it is not.

Checks, from the cheapest: the build finished; the catalog files are readable; every shard's
sha256 and size match the manifest and no shard on disk is unknown to it; every sample in
every shard has a catalog row, and every catalog row finds its sample at the recorded shard,
offset and size with the recorded image sha256; tile ids are unique; kept + rejected =
candidates. Shards are scanned once, by their tar headers, so a check costs one sequential
read of the corpus. ``CORPUS`` is a local path or an fsspec URL.

``repair_corpus`` only does what cannot lose anything: it rebuilds ``catalog/tiles.parquet``
(and ``rejected.parquet``) from ``staging/curated.parquet`` plus the shards' own headers, or
from the shards' ``KEY.json`` members alone when staging is gone, and removes shards whose
bytes no longer match (with their pack records) so that rerunning the build rewrites them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from catalogs.geoparquet import write_geoparquet
from catalogs.layout import CATALOG_FILES, CURATED, MANIFEST, SHARD_GLOB, SHARDS, TEMP_PATTERNS, packed_record
from catalogs.manifest import read_manifest
from catalogs.schema import CATALOG_SCHEMA, KEPT, conform
from catalogs.errors import SampleError
from catalogs.store import Store
from catalogs.tarformat import iter_samples
from pipeline.encode import FORMATS

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, the file it concerns and what is wrong."""

    check: str
    path: str  # relative to the corpus root
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        return f"[{self.severity}] {self.check}: {self.path}: {self.message}"


@dataclass
class Sample:
    """A sample as found in a shard: where it starts, its bytes, and digests of its members."""

    key: str
    offset: int
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)  # extension -> sha256 of the member
    meta: bytes = b""  # the KEY.json member (small; kept for repairs)

    def image_sha256(self) -> str | None:
        images = [d for ext, d in self.digests.items() if ext in FORMATS]  # not mask.png, b.<fmt>
        return images[0] if len(images) == 1 else None


def scan_shard(handle) -> list[Sample]:
    """The samples of a shard (an open binary file) in order, grouping members by key.

    One sequential read; member bytes are hashed and dropped (only KEY.json is kept). Raises
    :class:`SampleError` (or ``OSError``) when the tar is unreadable or truncated.
    """
    samples = []
    for span in iter_samples(handle, strict=True):
        digests = {ext: hashlib.sha256(data).hexdigest() for ext, data in span.members.items()}
        samples.append(Sample(span.key, span.offset, span.size, digests, bytes(span.members.get("json", b""))))
    return samples


def _read_table(corpus: Store, which: str, findings: list[Finding]) -> pa.Table | None:
    rel = CATALOG_FILES[which]
    if not corpus.exists(rel):
        findings.append(Finding("catalog", rel, "missing"))
        return None
    try:
        return corpus.read_parquet(rel)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
        findings.append(Finding("catalog", rel, f"unreadable: {exc}"))
        return None


def _sha256(corpus: Store, rel: str, chunk: int = 1 << 20) -> str:
    sha = hashlib.sha256()
    with corpus.open(rel) as handle:
        while block := handle.read(chunk):
            sha.update(block)
    return sha.hexdigest()


def _check_manifest(corpus: Store, manifest: dict, findings: list[Finding]) -> dict[str, dict]:
    """Build state and shard checksums; returns {shard path: manifest entry}."""
    if not manifest:
        findings.append(Finding("manifest", MANIFEST, "missing: not a corpus, or the build never started"))
        return {}
    if manifest.get("stages", {}).get("pack") != "done":
        findings.append(Finding("manifest", MANIFEST, "the build did not finish (interrupted?); "
                                "run the same `ringmo build` command again to resume it"))
    listed = {entry["path"]: entry for entry in manifest.get("shards", [])}
    on_disk = set(corpus.glob(SHARD_GLOB))
    for rel in sorted(set(listed) - on_disk):
        findings.append(Finding("shard", rel, "listed in the manifest but missing"))
    for rel in sorted(on_disk - set(listed)):
        findings.append(Finding("shard", rel, "on disk but not in the manifest (stray shard)"))
    for rel in sorted(set(listed) & on_disk):
        entry, size = listed[rel], corpus.size(rel)
        if size != entry.get("bytes"):
            findings.append(Finding("shard", rel, f"{size} bytes, manifest says {entry.get('bytes')}"))
        elif _sha256(corpus, rel) != entry.get("sha256"):
            findings.append(Finding("shard", rel, "sha256 does not match the manifest (corrupted)"))
    return listed


def _scan(corpus: Store, rel: str) -> list[Sample]:
    with corpus.open(rel) as handle:
        return scan_shard(handle)


def _scan_all(corpus: Store, findings: list[Finding]) -> dict[str, list[Sample]]:
    scans = {}
    for rel in corpus.glob(SHARD_GLOB):
        try:
            scans[rel] = _scan(corpus, rel)
        except (SampleError, OSError) as exc:
            findings.append(Finding("shard", rel, f"not a readable tar: {exc}"))
    return scans


def _check_samples(scans: dict[str, list[Sample]], findings: list[Finding]) -> None:
    """Each sample: one image member + a KEY.json whose tile_id is the key; keys unique."""
    seen: dict[str, str] = {}
    for rel, samples in scans.items():
        for s in samples:
            if s.key in seen:
                findings.append(Finding("sample", rel, f"{s.key} also in {seen[s.key]} (duplicated tile)"))
            seen[s.key] = rel
            if "json" not in s.digests or s.image_sha256() is None:
                findings.append(Finding("sample", rel, f"{s.key} at {s.offset}: members {sorted(s.digests)}, "
                                        "expected one image and one json"))
                continue
            try:
                meta = json.loads(s.meta)
                if meta.get("tile_id") != s.key:
                    raise ValueError(f"tile_id {meta.get('tile_id')!r}")
            except ValueError as exc:
                findings.append(Finding("sample", rel, f"{s.key}.json is not valid sample metadata: {exc}"))


def _check_rows(kept: pa.Table, scans: dict[str, list[Sample]], findings: list[Finding]) -> None:
    """Catalog rows <-> shard samples, both ways: place, size and image checksum."""
    where = {(rel, s.offset): s for rel, samples in scans.items() for s in samples}
    claimed = set()
    cols = ("tile_id", "shard", "offset", "size", "sha256", "format", "status")
    for row in kept.select(list(cols)).to_pylist():
        tid, rel = row["tile_id"], row["shard"] or ""
        if row["status"] != KEPT:
            findings.append(Finding("catalog", CATALOG_FILES["tiles"], f"{tid}: status {row['status']!r} in tiles"))
        if rel not in scans:
            findings.append(Finding("catalog", CATALOG_FILES["tiles"], f"{tid}: shard {rel!r} is missing or unreadable"))
            continue
        sample = where.get((rel, row["offset"]))
        claimed.add((rel, row["offset"]))
        if sample is None or sample.key != tid:
            found = "nothing" if sample is None else sample.key
            findings.append(Finding("catalog", rel, f"{tid}: offset {row['offset']} holds {found}"))
            continue
        if sample.size != row["size"]:
            findings.append(Finding("catalog", rel, f"{tid}: size {sample.size}, catalog says {row['size']}"))
        if sample.digests.get(row["format"] or "") != row["sha256"]:
            findings.append(Finding("catalog", rel, f"{tid}: image sha256 does not match the catalog"))
    for (rel, offset), sample in sorted(where.items()):
        if (rel, offset) not in claimed:
            findings.append(Finding("sample", rel, f"{sample.key} at offset {offset} has no catalog row"))


def _check_accounting(corpus: Store, manifest: dict, kept: pa.Table | None, rejected: pa.Table | None,
                      findings: list[Finding]) -> None:
    if kept is None or rejected is None:
        return
    ids = kept.column("tile_id").to_pylist() + rejected.column("tile_id").to_pylist()
    repeated = [t for t, n in Counter(ids).items() if n > 1]
    if repeated:
        findings.append(Finding("accounting", "catalog", f"{len(repeated)} tile ids appear twice, e.g. {repeated[0]}"))
    if KEPT in set(rejected.column("status").to_pylist()):
        findings.append(Finding("accounting", CATALOG_FILES["rejected"], "holds rows with status 'kept'"))
    expected = manifest.get("summary", {}).get("tiles", {}).get("candidates")
    if expected is not None and expected != len(ids):
        findings.append(Finding("accounting", "catalog", f"kept {kept.num_rows} + rejected {rejected.num_rows} "
                                f"!= {expected} candidates in the manifest"))
    if corpus.exists(CURATED):
        staged = set(corpus.read_parquet(CURATED, columns=["tile_id"]).column("tile_id").to_pylist())
        if staged != set(ids):
            findings.append(Finding("accounting", "catalog", f"{len(staged - set(ids))} staged candidates lack a "
                                    f"catalog row, {len(set(ids) - staged)} rows are not staged candidates"))


def _leftovers(corpus: Store, findings: list[Finding]) -> None:
    if not corpus.local:  # object stores never hold partial writes
        return
    for rel in sorted({rel for pattern in TEMP_PATTERNS for rel in corpus.glob(pattern)}):
        findings.append(Finding("leftover", rel, "temp file of an interrupted run (removed by the next build)",
                                WARNING))


def validate_corpus(corpus: str | Path) -> list[Finding]:
    """Every problem found in ``corpus`` (empty when it is whole); see the module docstring."""
    corpus = Store(corpus)
    findings: list[Finding] = []
    manifest = read_manifest(corpus.root)
    _check_manifest(corpus, manifest, findings)
    kept = _read_table(corpus, "tiles", findings)
    rejected = _read_table(corpus, "rejected", findings)
    _read_table(corpus, "scenes", findings)
    scans = _scan_all(corpus, findings)
    _check_samples(scans, findings)
    if kept is not None:
        _check_rows(kept, scans, findings)
    _check_accounting(corpus, manifest, kept, rejected, findings)
    _leftovers(corpus, findings)
    return findings


def _placements(scans: dict[str, list[Sample]]) -> list[dict]:
    return [{"placements": [
        {"tile_id": s.key, "shard": rel, "offset": s.offset, "size": s.size,
         "sha256": s.image_sha256()}
        for s in samples]} for rel, samples in scans.items()]


def _rows_from_metadata(scans: dict[str, list[Sample]]) -> pa.Table:
    """Catalog rows from the shards' KEY.json alone (no staging): what a sample says of itself."""
    rows = []
    for rel, samples in scans.items():
        for s in samples:
            meta = json.loads(s.meta)
            meta["bands"] = ",".join(meta.get("bands") or [])
            meta["acquired"] = pa.scalar(meta["acquired"]).cast(pa.timestamp("ms", tz="UTC")).as_py() \
                if meta.get("acquired") else None
            meta["status"] = KEPT
            meta["georeferenced"] = meta.get("lon") is not None
            rows.append({k: v for k, v in meta.items() if k in CATALOG_SCHEMA.names})
    return conform(pa.Table.from_pylist(rows), CATALOG_SCHEMA) if rows else CATALOG_SCHEMA.empty_table()


def repair_corpus(corpus: str | Path) -> list[str]:
    """Safe repairs (see the module docstring); returns what was done, one line each."""
    corpus = Store(corpus)
    done: list[str] = []
    manifest = read_manifest(corpus.root)
    findings = validate_corpus(corpus.root)
    bad_shards = {f.path for f in findings if f.check == "shard" and f.path.startswith(f"{SHARDS}/")
                  and ("corrupted" in f.message or "bytes, manifest" in f.message or "not a readable" in f.message)}
    if bad_shards and corpus.exists(CURATED):
        for rel in sorted(bad_shards):
            corpus.remove(rel)
            corpus.remove(packed_record(rel))
            done.append(f"removed {rel} (bytes do not match the manifest); rerun `ringmo build` to rewrite it")
        return done
    catalog_broken = any(f.check in ("catalog", "sample", "accounting") for f in findings)
    if not catalog_broken or bad_shards:
        return done
    from workflows.assemble import with_placements  # the build's join (it brings numba in): repairs only

    scans = {}
    for entry in manifest.get("shards", []):
        scans[entry["path"]] = _scan(corpus, entry["path"])
    if corpus.exists(CURATED):
        table = with_placements(corpus.read_parquet(CURATED), _placements(scans))
        is_kept = pc.equal(table.column("status"), KEPT)
        write_geoparquet(table.filter(is_kept), corpus.url(CATALOG_FILES["tiles"]))
        write_geoparquet(table.filter(pc.invert(is_kept)), corpus.url(CATALOG_FILES["rejected"]))
        done.append("rebuilt catalog/tiles.parquet and catalog/rejected.parquet from staging/curated.parquet "
                    "and the shards")
    else:
        table = with_placements(_rows_from_metadata(scans), _placements(scans))
        write_geoparquet(table, corpus.url(CATALOG_FILES["tiles"]))
        done.append("rebuilt catalog/tiles.parquet from the shards' KEY.json members (no staging: footprints, "
                    "quality measures and hashes are missing; rejected.parquet was not rebuilt)")
    return done


def format_findings(findings: list[Finding]) -> str:
    errors = sum(f.severity == ERROR for f in findings)
    lines = [str(f) for f in findings[:200]]
    if len(findings) > 200:
        lines.append(f"... and {len(findings) - 200} more")
    lines.append(f"{errors} error(s), {len(findings) - errors} warning(s)" if findings else "corpus is valid")
    return "\n".join(lines)
