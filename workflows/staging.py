"""Staged bytes after a build: keep only what the shards do not hold, bring it back for curate.

The tile stage writes every candidate that passed the quality screen into
``staging/{scene}.tiles``. Once the shards are written those bytes are there twice: a corpus
would take ~2x its shards on disk. So a finished build *compacts* staging (unless
``--keep-staging``):

- kept tiles' bytes are dropped (their shard holds them, checked by sha256 on the way back);
- bytes of tiles curation set aside (``duplicate``, ``balanced_out``), which a later
  ``ringmo curate`` with other settings may keep, move to ``staging/{scene}.rest`` with an
  index ``staging/{scene}.rest.json`` (``{tile_id: [offset, size]}``);
- tiles rejected by the quality screen never had staged bytes.

Before anything needs staged bytes again (a pack with a new plan), :func:`restore_staging`
rebuilds each missing ``.tiles`` blob byte for byte at the offsets the candidate rows record,
from the shards and the ``.rest`` file, so the rest of the build runs exactly as on a corpus
that kept its staging, and gives byte-identical shards and catalog.

Each step is atomic per scene: a ``.tiles`` blob is removed only after its ``.rest`` index is
written, and restored blobs are written whole, so a run killed anywhere resumes.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from catalogs.errors import SampleError
from catalogs.layout import PACKED_RECORDS, blob_candidates, rest_paths
from catalogs.schema import KEPT
from catalogs.store import Store
from catalogs.tarformat import fragment_member, member_name, parse_fragment
from pipeline.dense import parse_members


def _staged_rows(table: pa.Table) -> pa.Table:
    return table.filter(pc.is_valid(table.column("stage_size")))


def compact_staging(corpus: Store, curated: pa.Table) -> dict:
    """Drop staged bytes the shards hold; keep set-aside candidates' bytes. Returns byte counts."""
    staged = _staged_rows(curated).select(["tile_id", "status", "stage_file", "stage_offset", "stage_size"])
    kept_bytes = aside_bytes = 0
    for blob in sorted(set(staged.column("stage_file").to_pylist())):
        rows = staged.filter(pc.equal(staged.column("stage_file"), blob)).to_pylist()
        if not corpus.exists(blob):
            continue  # compacted by an earlier (killed) run
        aside = sorted((r for r in rows if r["status"] != KEPT), key=lambda r: r["stage_offset"])
        rest, index_path = rest_paths(blob)
        index, offset = {}, 0
        with corpus.open(blob) as source, corpus.writing(rest) as sink:
            for row in aside:
                source.seek(row["stage_offset"])
                sink.write(source.read(row["stage_size"]))
                index[row["tile_id"]] = [offset, row["stage_size"]]
                offset += row["stage_size"]
        corpus.write_json(index_path, index)
        corpus.remove(blob)
        aside_bytes += offset
        kept_bytes += sum(r["stage_size"] for r in rows if r["status"] == KEPT)
    return {"dropped_bytes": kept_bytes, "kept_aside_bytes": aside_bytes}


def restore_staging(corpus: Store, blobs: set[str], candidates: pa.Table) -> set[str]:
    """Rebuild the missing ``blobs`` from the shards and ``.rest`` files.

    ``candidates`` are the staged candidate rows (``stage_file/offset/size``). Kept tiles are
    found through the shard records of the last packing and checked against their sha256. Returns the blobs that
    cannot be restored (a shard lost or damaged since): their scenes must be tiled again,
    which gives the same bytes.
    """
    missing = sorted(b for b in blobs if not corpus.exists(b))
    if not missing:
        return set()
    placed = _kept_placements(corpus)
    staged = _staged_rows(candidates)
    lost = set()
    for blob in missing:
        rows = staged.filter(pc.equal(staged.column("stage_file"), blob)).to_pylist()
        rest, index_path = rest_paths(blob)
        index = corpus.read_json(index_path) if corpus.exists(index_path) else {}
        try:
            with corpus.writing(blob, streamed=True) as sink:  # an exception inside publishes nothing
                for row in sorted(rows, key=lambda r: r["stage_offset"]):
                    if sink.tell() != row["stage_offset"]:
                        raise _Gone(row["tile_id"])
                    sink.write(_bytes_back(corpus, row, index, rest, placed))
        except _Gone:
            lost.add(blob)
    return lost


class _Gone(Exception):
    """A staged tile whose bytes are neither in staging nor (intact) in a shard."""


def _kept_placements(corpus: Store) -> dict[str, dict]:
    """Where the last packing put each kept tile, from its shard records (the catalog may be gone)."""
    placed = {}
    for rel in corpus.glob(PACKED_RECORDS):
        for placement in corpus.read_json(rel)["placements"]:
            placed[placement["tile_id"]] = placement
    return placed


def _bytes_back(corpus: Store, row: dict, index: dict, rest: str, placed: dict[str, dict]) -> bytes:
    tile_id = row["tile_id"]
    if tile_id in index:
        offset, size = index[tile_id]
        return corpus.read_range(rest, offset, size)
    where = placed.get(tile_id)
    if where is not None and where["shard"] and corpus.exists(where["shard"]):
        # dense samples stage the image followed by their members (mask.png, b.<fmt>): all come back
        names = [f"{tile_id}.{row['format']}"] + [f"{tile_id}.{n}" for n, _ in parse_members(row.get("members"))]
        try:
            parts = shard_members(corpus, where["shard"], where["offset"], where["size"], names)
        except (OSError, SampleError):
            parts = None
        data = b"".join(parts) if parts else None
        if data is not None and len(data) == row["stage_size"] and \
                hashlib.sha256(parts[0]).hexdigest() == where["sha256"]:
            return data
    raise _Gone(tile_id)


def forget_scene(corpus: Store, blob: str) -> None:
    """Drop a scene's staged state so the tile stage stages it again from its source."""
    rest, index_path = rest_paths(blob)
    for rel in (index_path, rest, blob, blob_candidates(blob)):
        corpus.remove(rel)


def shard_member(store: Store, shard: str, offset: int, size: int, name: str) -> bytes | None:
    """One member's bytes out of the sample that starts at ``offset`` in ``shard``."""
    return fragment_member(store.read_range(shard, int(offset), int(size)), name)


def shard_members(store: Store, shard: str, offset: int, size: int, names: list[str]) -> list[bytes] | None:
    """Several members' bytes (in ``names`` order) out of one sample; None when one is missing."""
    sample = parse_fragment(store.read_range(shard, int(offset), int(size)))
    found = {member_name(sample["__key__"], ext): data for ext, data in sample.items() if ext != "__key__"}
    return [bytes(found[n]) for n in names] if all(n in found for n in names) else None


def staged_bytes(store: Store, tile_id: str, stage_file: str, offset: int, size: int) -> bytes | None:
    """A candidate's staged bytes, whether staging is whole or compacted (``None``: gone)."""
    if store.exists(stage_file):
        return store.read_range(stage_file, offset, size)
    rest, index_path = rest_paths(stage_file)
    if not store.exists(index_path):
        return None
    where = store.read_json(index_path).get(tile_id)
    return None if where is None else store.read_range(rest, where[0], where[1])
