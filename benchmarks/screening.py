"""Radiometry and screening quality: SAR GRD saturation before/after, cloud test vs a QA mask.

GRD: a Sentinel-1 GRD imitation (uint16 amplitude DN, log-normal speckle over smooth terrain,
2.5 % zero fill at the slice border, no nodata flag; the real held-back GRD scenes behave so).
"before" is the stretch the tiler used until issue 13 (dB percentiles 2/98 fitted with the
zero fill in: the low end becomes -200 dB and land maps to 237-255), applied to the same tiles;
"after" is ``pipeline.tiler`` with the sentinel1 rule asked for a display (uint8) corpus, the
fill excluded from the fit. Figures: mean and worst per-tile share of saturated (255) valid
pixels, and tiles rejected as blank.

Clouds: the simplified Fmask test of ``pipeline.clouds`` (on blue, green, red, NIR as in a
B2-B5 stack, and on all reflective bands B1-B7 as the grouped product gives them) against
the high-confidence cloud bits of the real Landsat-8 product's BQA
(``/work/shared/realdata/products/landsat8_LC80200392015216LGN00``), pixel by pixel:
precision and recall. Skipped when that folder is absent (no truth to compare with).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.figures import Figure

NAME = "screening"
_L8 = Path(os.environ.get("RINGMO_REALDATA", "/work/shared/realdata")) / "products" / "landsat8_LC80200392015216LGN00"


def _grd(path: Path, size: int) -> Path:
    import cv2
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(0)
    terrain = cv2.resize(rng.random((size // 32, size // 32)).astype(np.float32), (size, size),
                         interpolation=cv2.INTER_CUBIC)
    dn = np.exp(4.5 + 2.0 * terrain + rng.normal(0, 0.5, (size, size))).clip(1, 65535).astype(np.uint16)
    dn[:, : int(size * 0.025)] = 0  # 2.5 %: above the 2nd percentile, as in the real scenes
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint16", tiled=True,
                   blockxsize=256, blockysize=256, crs="EPSG:32631",
                   transform=Affine(10.0, 0, 500000.0, 0, -10.0, 5000000.0))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn[None])
    return path


def _old_stretch(dn: np.ndarray) -> np.ndarray:
    """The pre-issue-13 GRD stretch: 20 log10 DN percentiles 2/98 with the zero fill included."""
    db = 20.0 * np.log10(np.maximum(dn.astype(np.float64), 1e-10))
    lo, hi = np.percentile(db, [2.0, 98.0])
    return np.clip((db - lo) / (hi - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def grd_figures(quick: bool) -> list[Figure]:
    import pyarrow.parquet as pq
    import rasterio

    from catalogs.schema import BLANK
    from pipeline.encode import decode
    from pipeline.ingest import read_scene_info
    from pipeline.quality import QualityConfig, assess, verdict
    from pipeline.scene import SourceRef
    from pipeline.sensors import match_rule
    from pipeline.tiler import TileConfig, stage_scene
    from pipeline.windows import TileGrid

    size, tile = (512, 128) if quick else (2048, 256)
    with tempfile.TemporaryDirectory() as tmp:
        path = _grd(Path(tmp) / "S1A_IW_GRDH_1SDV_20200101T000000_VV.tif", size)
        scene = read_scene_info(SourceRef(str(path)))
        rule = match_rule(scene.uri)
        rule = type(rule)(**{**rule.__dict__, "scale": "display"})
        quality = QualityConfig(min_valid_frac=0.0)
        staged = Path(stage_scene(scene, rule, TileConfig(grid=TileGrid(tile), quality=quality), Path(tmp) / "st"))
        rows = pq.read_table(staged).to_pylist()
        blob = (staged.parent / f"{scene.scene_id}.tiles").read_bytes()
        with rasterio.open(path) as src:
            dn = src.read(1)
    stats = {"before": [], "after": []}  # per tile: (share == 255, share >= 237, mean)
    blank_before, old = 0, _old_stretch(dn)
    for row in rows:
        r, c = row["row_off"], row["col_off"]
        valid = dn[r:r + tile, c:c + tile] > 0
        old_tile = old[r:r + tile, c:c + tile]
        stats["before"].append(_tile_stats(old_tile[valid]))
        blank_before += verdict(assess(old_tile[..., None], None), quality)[0] == BLANK
        if row["stage_offset"] is not None:
            new = decode(blob[row["stage_offset"]:row["stage_offset"] + row["stage_size"]], "png")[..., 0]
            stats["after"].append(_tile_stats(new[valid]))
    blank_after = sum(r["status"] == BLANK for r in rows)
    before, after = np.array(stats["before"]), np.array(stats["after"])
    label, base = f"GRD imitation {size}px, {len(rows)} tiles", "zero fill in the dB stretch (before)"
    return [
        Figure(NAME, f"{label}: valid pixels at 255 per tile, mean", after[:, 0].mean(), before[:, 0].mean(),
               base, "%", None, "< 5 %"),
        Figure(NAME, f"{label}: valid pixels at 255, worst tile", after[:, 0].max(), before[:, 0].max(),
               base, "%", None, "< 5 %"),
        Figure(NAME, f"{label}: valid pixels >= 237 (near white), mean", after[:, 1].mean(), before[:, 1].mean(),
               base, "%", None, "< 5 %"),
        Figure(NAME, f"{label}: mean 8-bit value of valid pixels", after[:, 2].mean(), before[:, 2].mean(),
               base, "0-255", None, "mid-grey"),
        Figure(NAME, f"{label}: tiles rejected as blank", blank_after, blank_before, base, "tiles", None, "0"),
    ]


def _tile_stats(values: np.ndarray) -> tuple[float, float, float]:
    return 100 * float((values == 255).mean()), 100 * float((values >= 237).mean()), float(values.mean())


def cloud_figures() -> list[Figure]:
    import rasterio

    from pipeline.clouds import qa_masks

    if not (_L8 / "l8_BQA.tif").exists():
        return []
    with rasterio.open(_L8 / "l8_BQA.tif") as src:
        truth, _, fill = qa_masks(src.read(1), "landsat_bqa")
    figures = []
    for names in (("B2", "B3", "B4", "B5"), ("B1", "B2", "B3", "B4", "B5", "B6", "B7")):
        figures += _cloud_test(names, truth, fill)
    return figures


def _cloud_test(names, truth, fill) -> list[Figure]:
    """Precision/recall of the spectral test on ``names`` of the real product against BQA."""
    import rasterio

    from pipeline.clouds import band_roles, reflectance_scale, spectral_cloud

    bands = []
    for name in names:
        with rasterio.open(_L8 / f"l8_{name}.tif") as src:
            bands.append(src.read(1))
    gain, offset = reflectance_scale("landsat8", "uint16")
    found = spectral_cloud(np.stack(bands, axis=-1), band_roles(names, "landsat8"), gain, offset) & ~fill
    tp = float((found & truth).sum())
    precision, recall = tp / max(found.sum(), 1), tp / max(truth.sum(), 1)
    label = f"Landsat-8 LC80200392015216LGN00, {names[0]}-{names[-1]} spectral test vs BQA high-confidence cloud"
    return [
        Figure(NAME, f"{label}: precision", precision, None, "product BQA (truth)", "fraction", None, ""),
        Figure(NAME, f"{label}: recall", recall, None, "product BQA (truth)", "fraction", None, ""),
        Figure(NAME, f"{label}: cloud cover, test / BQA", float(found.mean()) * 100, float(truth.mean()) * 100,
               "product BQA (truth)", "%", float(found.mean() / max(truth.mean(), 1e-9)), "~1"),
    ]


def run(quick: bool) -> list[Figure]:
    return grd_figures(quick) + cloud_figures()
