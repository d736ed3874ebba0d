"""Per-scene screening the tiler applies to each strip: collars as nodata, clouds and shadows.

A :class:`Screen` is set up once per scene (it may hold the product's QA raster open) and then
asked, strip by strip, for the collar mask and the QA window of that strip, and tile by tile
for the cloud and shadow fractions. Everything is read per strip: no scene-sized array.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
from rasterio.enums import Resampling

from pipeline.clouds import band_roles, can_test, fractions, qa_masks, reflectance_scale, spectral_cloud
from pipeline.collars import Collars, detect_collars
from pipeline.gdal_env import gdal_env, open_raster
from pipeline.quality import subsample_step
from catalogs.schema import TOO_COARSE
from pipeline.scene import SceneError, SceneInfo
from pipeline.strips import BandPlan, plan_bands, read_strip
from pipeline.uris import to_gdal_path


@dataclass
class Screen:
    """What a scene's strips are screened with (each part optional)."""

    collars: Collars | None = None
    qa: object | None = None  # open rasterio dataset of the product's QA raster
    qa_plan: BandPlan | None = None
    qa_kind: str | None = None
    qa_scale: tuple[float, float] = (1.0, 1.0)  # QA pixels per scene pixel (x, y)
    roles: dict | None = None  # spectral test: {role: band index}
    gain: float = 1.0
    offset: float = 0.0

    @property
    def measures_clouds(self) -> bool:
        return self.qa is not None or self.roles is not None

    def collar_mask(self, data: np.ndarray, window) -> np.ndarray | None:
        return None if self.collars is None else self.collars.mask_for(data, window)

    def read_qa(self, window, out_hw) -> np.ndarray | None:
        """The QA values under a strip's source ``window``, resampled (nearest) to ``out_hw``."""
        if self.qa is None:
            return None
        sx, sy = self.qa_scale
        col, row, w, h = window
        qwin = (int(round(col * sx)), int(round(row * sy)), max(1, int(round(w * sx))), max(1, int(round(h * sy))))
        data, _ = read_strip(self.qa, self.qa_plan, qwin, out_hw, Resampling.nearest)
        return data[:, :, 0]

    def clouds(self, raw: np.ndarray, valid: np.ndarray | None, qa: np.ndarray | None
               ) -> tuple[float | None, float | None]:
        """(cloud_frac, shadow_frac) of one tile's valid pixels, on the quality subsample grid."""
        if not self.measures_clouds:
            return None, None
        step = subsample_step(*raw.shape[:2])
        sub_valid = None if valid is None else valid[::step, ::step]
        if qa is not None:
            cloud, shadow, fill = qa_masks(qa[::step, ::step], self.qa_kind)
            keep = ~fill if sub_valid is None else sub_valid & ~fill
            return fractions(cloud, shadow, keep)
        cloud = spectral_cloud(raw[::step, ::step], self.roles, self.gain, self.offset)
        return fractions(cloud, None, sub_valid)


def _qa_part(stack: ExitStack, scene: SceneInfo) -> dict:
    if not scene.qa_uri or not scene.qa_kind:
        return {}
    try:
        stack.enter_context(gdal_env(scene.qa_uri))
        qa = stack.enter_context(open_raster(to_gdal_path(scene.qa_uri)))
    except Exception as exc:  # noqa: BLE001 - a product without its QA file is still tiled
        raise SceneError(scene.uri, f"its QA raster {scene.qa_uri} could not be opened: {exc}") from exc
    qa_plan = plan_bands(qa, scene.qa_uri, (1,), ("qa",))
    return {"qa": qa, "qa_plan": qa_plan, "qa_kind": scene.qa_kind,
            "qa_scale": (qa.width / scene.width, qa.height / scene.height)}


@contextmanager
def open_screen(src, scene: SceneInfo, bands: BandPlan, *, sar: bool):
    """The scene's :class:`Screen`; its QA raster (if any) is closed on exit.

    Collars are looked for only in integer data that has no mask, nodata or rule fill of its
    own and is not SAR (SAR fill is handled by ``pipeline.sar``). The QA raster is assumed to
    cover the scene's extent (Landsat BQA/QA_PIXEL on the same grid, Sentinel-2 SCL at 20 m
    over the same tile), so windows are scaled by the size ratio.
    """
    parts: dict = {}
    if (bands.mask_source == "none" and not bands.fill_values and not sar
            and np.dtype(bands.dtype).kind in "iu"):
        parts["collars"] = detect_collars(src, bands.indexes, bands.dtype)
    with ExitStack() as stack:
        parts.update(_qa_part(stack, scene))
        if "qa" not in parts and not sar:
            roles = band_roles(bands.names, scene.sensor, scene.platform)
            scale = reflectance_scale(scene.sensor, bands.dtype, scene.product)
            if can_test(roles) and scale is not None:
                parts.update(roles=roles, gain=scale[0], offset=scale[1])
        yield Screen(**parts)


def check_upsample(scene: SceneInfo, target_gsd: float | None, max_upsample: float, allowed: bool) -> None:
    """Refuse a target GSD that would blow a coarse scene up into blocky tiles (GOES at 2.9 km
    to a 100 m grid: 29x, 932 tiles of interpolated pixels), unless its rule allows it."""
    if target_gsd is None or not scene.georeferenced or not scene.gsd_m or allowed:
        return
    factor = scene.gsd_m / target_gsd
    if factor > max_upsample:
        raise SceneError(scene.uri, f"GSD {scene.gsd_m:.4g} m would be upsampled {factor:.1f}x to "
                                    f"{target_gsd:g} m (max_upsample {max_upsample:g}); set "
                                    "allow_upsample on its sensor rule to tile it anyway",
                         status=TOO_COARSE)
