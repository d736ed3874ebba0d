"""Near-duplicate detection: ours (``phash_batch`` + ``radius_pairs``) against imagededup's PHash.

Both hash the same planted set of procedurally textured 64–128 px images: originals, distinct
look-alikes (same palette and texture scales, other noise) and copies of some originals under
the edits a corpus really contains (JPEG q70, ±10 % brightness, a small crop, a 90 % resize).
Both then search at the same Hamming threshold; precision/recall are counted on pairs (a pair
is true when both images come from the same original). A second part times the search alone
on synthetic uint64 hashes with planted near pairs, 10⁶ and 10⁷, geographically blocked (the
default for georeferenced tiles) and global (LSH at 99 % recall at the radius). The global
search must be timed at these sizes: a 10× step lower (3·10⁵ -> 3·10⁶) still fits in cache at
its small end and gives a flattering ratio (see BENCHMARKS.md).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time

import cv2
import numpy as np

from benchmarks.figures import Figure
from pipeline.hashing import phash_batch
from pipeline.hashsearch import radius_pairs

RADIUS = 10  # imagededup's default threshold, and the search radius
EDITS = ("jpeg70", "bright+10", "bright-10", "crop", "resize90", "rot90")


def _smooth_field(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Gaussian-blurred white noise: a texture whose blobs are ~``scale`` pixels wide."""
    noise = rng.standard_normal((size, size)).astype(np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), sigmaX=scale)
    return (field - field.mean()) / (field.std() + 1e-6)


def textured_image(rng: np.random.Generator, size: int, palette: np.ndarray, scales) -> np.ndarray:
    """One aerial-like RGB uint8 image: smooth multi-scale fields, a palette, fields and roads."""
    field = sum(w * _smooth_field(rng, size, s) for w, s in scales)
    levels = np.clip((field * 0.35 + 0.5) * (len(palette) - 1), 0, len(palette) - 1.001)
    low = levels.astype(int)
    frac = (levels - low)[..., None]
    img = palette[low] * (1 - frac) + palette[low + 1] * frac  # [H, W, 3]
    for _ in range(rng.integers(1, 4)):  # parcels
        x, y = rng.integers(0, size, 2)
        w, h = rng.integers(size // 8, size // 3, 2)
        img[y : y + h, x : x + w] = img[y : y + h, x : x + w] * 0.6 + palette[rng.integers(len(palette))] * 0.4
    for _ in range(rng.integers(0, 3)):  # roads
        p = rng.integers(0, size, 4)
        cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), (200.0, 195.0, 185.0), int(rng.integers(1, 4)))
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def _style(rng: np.random.Generator) -> tuple[np.ndarray, list]:
    palette = rng.uniform(20, 235, (int(rng.integers(3, 6)), 3))
    base = float(rng.uniform(4, 16))
    return palette, [(1.0, base), (0.5, base / 3), (0.25, base / 9)]


def edit(img: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """A planted duplicate of ``img`` under the named edit."""
    h, w = img.shape[:2]
    if name == "jpeg70":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if name.startswith("bright"):
        factor = 1.1 if name.endswith("+10") else 0.9
        return np.clip(img.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    if name == "crop":  # a shift of a few pixels: crop 1–3 % off two sides
        dy, dx = (int(rng.integers(max(1, s // 100), max(1, s * 3 // 100) + 1)) for s in (h, w))
        return np.ascontiguousarray(img[dy:, dx:])
    if name == "resize90":
        return cv2.resize(img, (w * 9 // 10, h * 9 // 10), interpolation=cv2.INTER_AREA)
    if name == "rot90":
        return np.ascontiguousarray(np.rot90(img))
    raise ValueError(f"unknown edit {name!r}")


def planted_set(n: int, seed: int, edits=EDITS[:5], dup_fraction: float = 0.3):
    """``(images, group)``: ``n`` images; equal ``group`` = copies of one original.

    Half of the originals come in look-alike pairs (same style, other noise): distinct images
    that a too-loose threshold would merge.
    """
    rng = np.random.default_rng(seed)
    n_dups = int(n * dup_fraction)
    n_orig = n - n_dups
    images, group = [], []
    style = _style(rng)
    for i in range(n_orig):
        if i % 2 == 0:  # odd originals are look-alikes of the previous one
            style = _style(rng)
        images.append(textured_image(rng, int(rng.integers(64, 129)), *style))
        group.append(i)
    for k in range(n_dups):
        src = int(rng.integers(n_orig))
        images.append(edit(images[src], edits[k % len(edits)], rng))
        group.append(src)
    return images, np.asarray(group)


def pair_scores(found: set[tuple[int, int]], group: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of found index pairs against same-group truth."""
    truth = _true_pairs(group)
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _true_pairs(group: np.ndarray) -> set[tuple[int, int]]:
    truth = set()
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1], True])
    for a, b in zip(starts[:-1], starts[1:]):
        members = sorted(order[a:b].tolist())
        truth.update((x, y) for i, x in enumerate(members) for y in members[i + 1 :])
    return truth


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _ours(images, conn) -> None:
    base = _rss_mb()
    start = time.perf_counter()
    hashes = phash_batch(images)
    hashed = time.perf_counter()
    a, b = radius_pairs(hashes, RADIUS)
    done = time.perf_counter()
    conn.send((set(zip(a.tolist(), b.tolist())), hashed - start, done - hashed, _peak_mb() - base))


def _imagededup(images, conn) -> None:
    import logging
    import sys
    import types

    # imagededup.methods imports its CNN module, whose default argument downloads ImageNet
    # weights at import time: no network here, and PHash does not need it
    sys.modules.setdefault("imagededup.methods.cnn", types.ModuleType("imagededup.methods.cnn"))
    sys.modules["imagededup.methods.cnn"].CNN = None
    from imagededup.methods import PHash

    logging.disable(logging.WARNING)
    base = _rss_mb()
    phasher = PHash(verbose=False)
    start = time.perf_counter()
    encodings = {str(i): phasher.encode_image(image_array=img) for i, img in enumerate(images)}
    hashed = time.perf_counter()
    dups = phasher.find_duplicates(
        encoding_map=encodings, max_distance_threshold=RADIUS, num_enc_workers=1, num_dist_workers=1
    )
    done = time.perf_counter()
    found = {tuple(sorted((int(k), int(v)))) for k, vs in dups.items() for v in vs}
    conn.send((found, hashed - start, done - hashed, _peak_mb() - base))


def _in_child(target, *args) -> tuple:
    """Run ``target`` in a forked process: its peak RSS above the fork point is its own (MB)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    child.close()  # the child holds the only write end: its death ends recv() with EOFError
    try:
        result = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"{target.__name__} died in its process (exit code {proc.exitcode})") from None
    proc.join()
    return result


def _planted_figures(n: int) -> list[Figure]:
    images, group = planted_set(n, seed=7)
    radius_pairs(np.zeros(4, dtype=np.uint64), RADIUS)  # compile outside the timed child
    phash_batch(images[:2])
    ours = _in_child(_ours, images)
    base = _in_child(_imagededup, images)
    (po, ro, fo), (pb, rb, fb) = pair_scores(ours[0], group), pair_scores(base[0], group)
    name, tag = "imagededup PHash", f"{n} planted images, r={RADIUS}"
    return [
        Figure("dedup", f"precision, {tag}", po, pb, name, "", po / pb if pb else None),
        Figure("dedup", f"recall, {tag}", ro, rb, name, "", ro / rb if rb else None),
        Figure("dedup", f"F1, {tag}", fo, fb, name, "", fo / fb if fb else None, "≥ 1"),
        Figure("dedup", f"hash+search seconds, {tag}", ours[1] + ours[2], base[1] + base[2], name, "s",
               (base[1] + base[2]) / (ours[1] + ours[2]), "≥ 20× faster"),
        Figure("dedup", f"search seconds, {tag}", ours[2], base[2], name, "s",
               base[2] / max(ours[2], 1e-6), "≥ 100× faster"),
        Figure("dedup", f"peak RSS MB above start, {tag}", ours[3], base[3], name, "MB", base[3] / ours[3]),
    ]


def synthetic_corpus(n: int, seed: int, radius: int = RADIUS) -> tuple[np.ndarray, np.ndarray, set]:
    """``(hashes, bounds, planted)``: n random hashes on tiles of 20×20-tile scenes.

    Scenes (0.1° wide, tiles 0.005°) are scattered over an area growing with n (constant
    density, as a corpus grows by covering more ground); 1 % of the tiles are copies of another
    tile's footprint (shifted by ~2 %) with 0..radius flipped bits.
    """
    rng = np.random.default_rng(seed)
    scenes = max(n // 400, 1)
    side = np.sqrt(scenes * 0.01 * 4.0)
    origin = rng.uniform(0, side, (scenes, 2)) - side / 2
    local = np.stack(np.meshgrid(np.arange(20), np.arange(20)), -1).reshape(-1, 2) * 0.005
    xy = (origin[:, None, :] + local[None]).reshape(-1, 2)[:n]
    hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    copies = n // 100
    chosen = rng.choice(n, 2 * copies, replace=False)  # disjoint: no copy of a copy
    src, dst = chosen[:copies], chosen[copies:]
    xy[dst] = xy[src] + 0.0001
    flips = np.zeros(copies, dtype=np.uint64)
    counts = rng.integers(0, radius + 1, copies)
    for k in range(radius):
        bit = rng.integers(0, 64, copies).astype(np.uint64)
        flips |= np.where(k < counts, np.uint64(1) << bit, np.uint64(0))
    hashes[dst] = hashes[src] ^ flips
    bounds = np.concatenate([xy, xy + 0.005], axis=1)
    return hashes, bounds, set(zip(np.minimum(src, dst).tolist(), np.maximum(src, dst).tolist()))


def _search_job(n: int, blocked: bool, conn) -> None:
    from pipeline.dedup import overlap_blocks

    hashes, bounds, planted = synthetic_corpus(n, seed=n)
    base = _rss_mb()
    start = time.perf_counter()
    blocks = overlap_blocks(bounds) if blocked else None
    a, b = radius_pairs(hashes, RADIUS, blocks, recall=0.99, seed=0)
    seconds = time.perf_counter() - start
    found = set(zip(a.tolist(), b.tolist()))
    recall = len(found & planted) / len(planted)  # planted pairs are within RADIUS (few flips repeat)
    conn.send((seconds, recall, _peak_mb() - base))


def search_figures(sizes: list[int]) -> list[Figure]:
    """Search seconds, planted-pair recall and peak RSS at each size, blocked and global; the
    larger sizes are timed against the smallest.

    The targets are for 10× more hashes: ≤ 15× blocked (n^1.18) and ≤ 30× global (n^1.48); the
    memory target is stated for 10⁷ hashes and only shown on rows measured there. The smallest
    size is timed 3 times and its fastest run kept: other jobs on the cores only slow a run
    down, and a slowed-down denominator would flatter the ratio.
    """
    radius_pairs(np.zeros(4, dtype=np.uint64), RADIUS, recall=0.99)  # compile once
    figures = []
    small = sizes[0]
    for blocked, label, target in ((True, "blocked by footprint", "≤ 15×"), (False, "global LSH@0.99", "≤ 30×")):
        runs = {n: _in_child(_search_job, n, blocked) for n in sizes}
        fastest = min(_in_child(_search_job, small, blocked)[0] for _ in range(2))
        runs[small] = (min(runs[small][0], fastest), *runs[small][1:])
        for n in sizes:
            seconds, recall, peak = runs[n]
            tag = f"{label}, n={n:.0e}, r={RADIUS}"
            if n == small:
                figures.append(Figure("dedup", f"search seconds, {tag}", seconds, None, "-", "s", None))
            else:
                figures.append(Figure("dedup", f"search seconds, {tag}", seconds, runs[small][0],
                                      f"same search at n={small:.0e}", "s", seconds / runs[small][0],
                                      target if n == 10 * small else ""))
            figures.append(Figure("dedup", f"planted-pair recall, {tag}", recall, None, "-", "", None,
                                  "≥ 0.99 (requested)"))
            figures.append(Figure("dedup", f"peak RSS MB above start, {tag}", peak, None, "-", "MB", None,
                                  "< 4096" if n == 10**7 else ""))
    return figures


def run(quick: bool) -> list[Figure]:
    """Planted-image comparison with imagededup at 10⁴ images (its search is quadratic: 2·10⁴
    adds ~2.5 minutes and no target), then the search scaling."""
    figures = _planted_figures(2000 if quick else 10_000)
    sizes = [10**5, 10**6] if quick else [10**6, 10**7]
    return figures + search_figures(sizes)
