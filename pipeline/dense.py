"""Dense labels on the tile grid: per-pixel class masks (segmentation) and second dates (change).

A dense sample is the image window plus more members cut from the *same* window: ``mask.png``
(one band of class indexes, 255 = ignore) and, for change detection, ``b.<fmt>`` (the second
date, encoded like the first). Masks are read with nearest resampling so a class index is never
blended, from one of three sources:

* a class-index raster on the image's own pixel grid (mmsegmentation ``ann_dir``, LEVIR-CD
  ``label/``): the same window is read;
* a georeferenced label raster on another grid: warped onto the scene grid (``WarpedVRT``,
  nearest), then the same window;
* vector polygons with a class attribute: rasterized onto each tile's own grid
  (``rasterio.features.rasterize``), after reprojection to the scene CRS once per scene.

Raw label values become class indexes through ``LabelSpec.values`` (a 256-entry lookup table)
or ``colors`` (RGB colour-coded masks such as ISPRS Potsdam/Vaihingen). Pixels outside the scene
(padded edge tiles) are 255. Per-class pixel counts of every tile go to the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from pipeline.encode import encode
from pipeline.gdal_env import open_raster
from pipeline.scene import SceneError, SceneInfo
from pipeline.uris import to_gdal_path
from pipeline.windows import clip_window

IGNORE = 255
TASKS = ("segmentation", "change")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet")
MASK_MEMBER = "mask.png"
PAIR_MEMBER = "b"  # + "." + the sample format


@dataclass(frozen=True)
class LabelSpec:
    """How raw label values map to class indexes (shared by every scene of a build).

    ``values``: raw value -> class index pairs (empty: raw values are the indexes, as in
    mmsegmentation ``ann_dir``); ``colors``: RGB triple -> class index (colour-coded masks);
    ``names``: raw vector attribute value (as text) -> class index. ``binary`` (change
    detection) maps every non-zero raw value to 1. ``background`` fills vector tiles where no
    polygon lies (IGNORE unless the class list has a background class).
    """

    classes: tuple[str, ...] = ()
    values: tuple[tuple[int, int], ...] = ()
    colors: tuple[tuple[tuple[int, int, int], int], ...] = ()
    names: tuple[tuple[str, int], ...] = ()
    binary: bool = False
    attribute: str = "class"
    background: int = IGNORE

    def lookup(self) -> np.ndarray:
        """The 256-entry table from raw raster value to class index."""
        if self.binary:
            table = np.ones(256, np.uint8)
            table[0] = 0
            return table
        if not self.values:
            return np.arange(256, dtype=np.uint8)
        table = np.full(256, IGNORE, np.uint8)
        for raw, index in self.values:
            table[raw] = index
        return table

    def vector_value(self, raw) -> int:
        """Class index of one polygon's attribute value (IGNORE when unknown)."""
        if self.binary:
            return 0 if raw in (0, "0", None) else 1
        text = str(raw)
        for name, index in self.names:
            if name == text:
                return index
        try:
            return int(self.lookup()[int(float(text))])
        except (ValueError, IndexError):
            return IGNORE


@dataclass(frozen=True)
class SceneLabels:
    """The dense labels of one scene: where its mask and (change) its second date are."""

    task: str
    mask_uri: str
    spec: LabelSpec
    pair_uri: str | None = None

    @property
    def vector(self) -> bool:
        return self.mask_uri.lower().endswith(VECTOR_SUFFIXES)


def apply_colors(raw: np.ndarray, spec: LabelSpec) -> np.ndarray:
    """``[H, W, 3]`` colour-coded labels -> ``[H, W]`` class indexes (unknown colours: IGNORE)."""
    out = np.full(raw.shape[:2], IGNORE, np.uint8)
    for (r, g, b), index in spec.colors:
        hit = (raw[:, :, 0] == r) & (raw[:, :, 1] == g) & (raw[:, :, 2] == b)
        out[hit] = index
    return out


def _inside(window, width: int, height: int, out_hw) -> np.ndarray:
    """``[H, W]`` bool: which sample pixels of ``window`` lie inside the scene."""
    col, row, w, h = window
    oh, ow = out_hw
    inside = np.zeros(out_hw, bool)
    c0, r0, cw, ch = clip_window(window, width, height)
    if cw and ch:
        y0, x0 = int(round((r0 - row) * oh / h)), int(round((c0 - col) * ow / w))
        inside[y0:y0 + max(1, int(round(ch * oh / h))), x0:x0 + max(1, int(round(cw * ow / w)))] = True
    return inside


class RasterMasks:
    """Windows of a label raster on the scene's pixel grid (warped there when it is not)."""

    def __init__(self, scene: SceneInfo, labels: SceneLabels):
        self.scene, self.spec, self.table = scene, labels.spec, labels.spec.lookup()
        self._src = open_raster(to_gdal_path(labels.mask_uri))
        self._view = self._src
        src = self._src
        same_grid = (src.width, src.height) == (scene.width, scene.height)
        if src.crs and scene.georeferenced and scene.crs:
            same_grid = same_grid and tuple(src.transform)[:6] == tuple(scene.transform)[:6]
            if not same_grid:
                from rasterio.vrt import WarpedVRT

                self._view = WarpedVRT(src, crs=scene.crs, transform=Affine(*scene.transform[:6]),
                                       width=scene.width, height=scene.height,
                                       resampling=Resampling.nearest, nodata=IGNORE)
        elif not same_grid:
            raise SceneError(scene.uri, f"mask {labels.mask_uri} is {src.width}x{src.height} px, the image "
                                        f"{scene.width}x{scene.height}, and they are not both georeferenced")
        if self.spec.colors and src.count < 3:
            raise SceneError(scene.uri, f"mask {labels.mask_uri} has {src.count} band(s); the class file gives "
                                        "RGB colours")
        if not self.spec.colors and not self.spec.binary and src.count >= 3 and \
                len({src.colorinterp[i].name for i in range(3)} & {"red", "green", "blue"}) == 3:
            raise SceneError(scene.uri, f"mask {labels.mask_uri} is an RGB image: colour-coded labels need "
                                        "--classes with a color per class (e.g. ISPRS Potsdam/Vaihingen)")

    def read(self, window, out_hw) -> np.ndarray:
        """``[H, W]`` uint8 class indexes of source ``window`` resampled (nearest) to ``out_hw``."""
        c0, r0, cw, ch = clip_window(window, self.scene.width, self.scene.height)
        inside = _inside(window, self.scene.width, self.scene.height, out_hw)
        out = np.full(out_hw, IGNORE, np.uint8)
        if not inside.any():
            return out
        ys, xs = np.nonzero(inside)
        shape = (int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1))
        bands = [1, 2, 3] if self.spec.colors else [1]
        raw = self._view.read(bands, window=Window(c0, r0, cw, ch), out_shape=(len(bands), *shape),
                              resampling=Resampling.nearest)
        raw = np.moveaxis(raw, 0, 2)
        if self.spec.colors:
            part = apply_colors(raw, self.spec)
        else:
            if raw.dtype != np.uint8 and (raw.min() < 0 or raw.max() > 255):
                raise SceneError(self.scene.uri, "mask values outside 0..255 cannot be class indexes")
            part = self.table[raw[:, :, 0].astype(np.int64)]
        out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = part
        return out

    def close(self) -> None:
        if self._view is not self._src:
            self._view.close()
        self._src.close()


class VectorMasks:
    """Polygons with a class attribute rasterized onto each tile's own grid.

    Geometries are reprojected to the scene CRS once; a scene without georeferencing takes
    the vector coordinates as pixel coordinates (x right, y down), as rasterio does with an
    identity transform.
    """

    def __init__(self, scene: SceneInfo, labels: SceneLabels):
        import geopandas as gpd
        import shapely

        self.scene, self.spec = scene, labels.spec
        frame = gpd.read_file(labels.mask_uri)
        if self.spec.attribute not in frame.columns and not self.spec.binary:
            raise SceneError(scene.uri, f"vector labels {labels.mask_uri} have no attribute "
                                        f"{self.spec.attribute!r} (columns: {sorted(map(str, frame.columns))})")
        if scene.georeferenced and scene.crs and frame.crs is not None:
            frame = frame.to_crs(scene.crs)
        attribute = frame[self.spec.attribute] if self.spec.attribute in frame.columns else [1] * len(frame)
        self.shapes = [(g, self.spec.vector_value(v)) for g, v in zip(frame.geometry, attribute)
                       if g is not None and not g.is_empty]
        self.tree = shapely.STRtree([g for g, _ in self.shapes]) if self.shapes else None

    def read(self, window, out_hw) -> np.ndarray:
        from rasterio.features import rasterize
        from rasterio.transform import array_bounds
        from shapely.geometry import box

        col, row, w, h = window
        oh, ow = out_hw
        transform = Affine(*self.scene.transform[:6]) if self.scene.georeferenced else Affine.identity()
        tile = transform @ Affine.translation(col, row) @ Affine.scale(w / ow, h / oh)
        out = np.full(out_hw, self.spec.background, np.uint8)
        if self.tree is not None:
            hits = self.tree.query(box(*array_bounds(oh, ow, tile)))
            shapes = [self.shapes[i] for i in sorted(hits)]
            if shapes:
                rasterize(shapes, out_shape=out_hw, transform=tile, out=out, dtype=np.uint8)
        out[~_inside(window, self.scene.width, self.scene.height, out_hw)] = IGNORE
        return out

    def close(self) -> None:
        pass


def open_masks(scene: SceneInfo, labels: SceneLabels):
    """The mask reader of a scene (raster or vector); raises ``SceneError`` naming the mask."""
    try:
        return VectorMasks(scene, labels) if labels.vector else RasterMasks(scene, labels)
    except SceneError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure names the mask file
        raise SceneError(scene.uri, f"mask {labels.mask_uri} cannot be read: {exc}") from exc


def class_pixels(mask: np.ndarray) -> list[int]:
    """Pixels per class index 0..max (IGNORE not counted): the catalog's ``class_pixels``."""
    counts = np.bincount(mask[mask != IGNORE].ravel(), minlength=1)
    return [int(c) for c in counts]


def dense_members(mask: np.ndarray, pair: np.ndarray | None, fmt: str, **encode_options) -> list[tuple[str, bytes]]:
    """The extra members of one sample: ``mask.png`` and (change) ``b.<fmt>``, in that order."""
    members = [(MASK_MEMBER, encode(mask, "png"))]
    if pair is not None:
        members.append((f"{PAIR_MEMBER}.{fmt}", encode(np.ascontiguousarray(pair), fmt, **encode_options)))
    return members


def members_field(members: list[tuple[str, bytes]]) -> str:
    """``"mask.png:1234,b.png:5678"``: names and sizes of the bytes staged after the image."""
    return ",".join(f"{name}:{len(data)}" for name, data in members)


def parse_members(value: str | None) -> list[tuple[str, int]]:
    """The inverse of :func:`members_field` (empty for plain samples)."""
    if not value:
        return []
    return [(name, int(size)) for name, size in (item.rsplit(":", 1) for item in value.split(","))]
