"""``ringmo leaks CORPUS --against LABELED``: pretraining images that are near-duplicates of a
downstream set's images (the contamination audit).

Pretraining on imagery that overlaps a benchmark's test split inflates its results silently.
Both catalogs already carry every kept tile's 64-bit pHash, so the audit is one radius search
(``pipeline.leaks.cross_corpus_pairs``) over metadata, no pixel read, plus thumbnails of the
closest pairs. It writes ``contamination.json`` and ``contamination.png`` and ``ringmo
finetune`` runs it before training when the checkpoint names a corpus that can be read.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from catalogs.query import Query, read_catalog
from catalogs.store import Store
from pipeline.leaks import cross_corpus_pairs

log = logging.getLogger("ringmo.leaks")
_COLUMNS = ["tile_id", "phash", "split", "uri", "shard", "offset", "size"]
DEFAULT_DISTANCE = 8


def audit(corpus: str, against: str, splits: tuple[str, ...] = (), max_distance: int = DEFAULT_DISTANCE,
          examples: int = 20) -> dict:
    """``{"pairs", "by_split", "contaminated", "examples", ...}`` of near-duplicates across the two.

    ``contaminated`` counts distinct downstream samples (of ``splits``, default all) that have
    at least one near-duplicate in ``corpus``; ``examples`` lists the closest pairs.
    """
    left = read_catalog(corpus, columns=_COLUMNS)
    right = read_catalog(against, Query(splits=tuple(splits)) if splits else None, columns=_COLUMNS)
    pairs = cross_corpus_pairs(left, right, max_distance)
    l_rows, r_rows = left.to_pylist(), right.to_pylist()
    hit: dict[str, set] = {}
    for _, j, _ in pairs:
        hit.setdefault(r_rows[j]["split"] or "none", set()).add(r_rows[j]["tile_id"])
    listed = [{"corpus_tile": l_rows[i]["tile_id"], "corpus_uri": l_rows[i]["uri"],
               "against_tile": r_rows[j]["tile_id"], "against_uri": r_rows[j]["uri"],
               "against_split": r_rows[j]["split"], "distance": d} for i, j, d in pairs[:examples]]
    return {"corpus": str(corpus), "against": str(against), "splits": list(splits) or "all",
            "max_distance": max_distance, "checked": {"corpus": left.num_rows, "against": right.num_rows},
            "pairs": len(pairs), "contaminated": sum(len(v) for v in hit.values()),
            "by_split": {k: len(v) for k, v in sorted(hit.items())}, "examples": listed,
            "_rows": (l_rows, r_rows, pairs[:8])}


def _thumb(corpus: str, row: dict, side: int = 96) -> np.ndarray:
    """The sample's image as ``[side, side, 3]`` uint8 (first three bands, stretched)."""
    import cv2

    from training.decode import decode_sample

    fragment = Store(corpus).read_range(row["shard"], int(row["offset"]), int(row["size"]))
    _, image, _ = decode_sample(fragment)
    image = image[:, :, :3] if image.shape[2] >= 3 else np.repeat(image[:, :, :1], 3, axis=2)
    image = image.astype(np.float32)
    low, high = np.percentile(image, 2), np.percentile(image, 98)
    image = (np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def write_audit(result: dict, out: str | Path) -> dict:
    """``contamination.json`` and (when there are pairs) ``contamination.png``; returns the paths."""
    from PIL import Image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    l_rows, r_rows, shown = result.pop("_rows")
    paths = {"json": str(out / "contamination.json")}
    if shown:
        rows = [np.concatenate([_thumb(result["corpus"], l_rows[i]), np.full((96, 4, 3), 255, np.uint8),
                                _thumb(result["against"], r_rows[j])], axis=1) for i, j, _ in shown]
        Image.fromarray(np.concatenate(rows, axis=0)).save(out / "contamination.png")
        paths["png"] = str(out / "contamination.png")
    result["files"] = paths
    Path(paths["json"]).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return paths


def format_audit(result: dict) -> str:
    lines = [f"checked {result['checked']['corpus']} corpus tiles against {result['checked']['against']} "
             f"downstream samples (pHash distance <= {result['max_distance']})",
             f"near-duplicate pairs: {result['pairs']}; downstream samples contaminated: {result['contaminated']}"]
    lines += [f"  {split}: {count}" for split, count in result["by_split"].items()]
    lines += [f"  {e['against_split']} {e['against_uri']} ~ {e['corpus_uri']} ({e['distance']} bits)"
              for e in result["examples"][:5]]
    return "\n".join(lines)


def checkpoint_corpus(checkpoint: str | None) -> str | None:
    """The corpus a pretraining checkpoint was trained on (its recorded config), if readable."""
    if not checkpoint:
        return None
    from training.weights import read_weights

    try:
        info = dict(read_weights(checkpoint).info)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is finetune's error to report
        return None
    config = json.loads(info.get("config") or "{}")
    corpus = config.get("corpus")
    if corpus and Store(corpus).exists("catalog/tiles.parquet"):
        return corpus
    return None


def audit_before_finetune(data: str, checkpoint: str | None, out: str, test_split: str = "test") -> dict | None:
    """Run the audit when the checkpoint's corpus is reachable; warn when ``test_split`` is hit."""
    corpus = checkpoint_corpus(checkpoint)
    if corpus is None:
        return None
    result = audit(corpus, data)
    write_audit(result, out)
    contaminated = result["by_split"].get(test_split, 0)
    if contaminated:
        log.warning("%d %s sample(s) of %s have near-duplicates in the pretraining corpus %s: the %s "
                    "score is inflated (see %s/contamination.json)", contaminated, test_split, data, corpus,
                    test_split, out)
    return result
