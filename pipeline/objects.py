"""Object annotations of detection datasets, read into one form: polygons in scene pixels.

``ringmo build IMAGES OUT --task detection --labels ANNOTATIONS`` takes the formats the field
ships its data in:

* a folder of DOTA ``labelTxt`` files (``imagesource:``/``gsd:`` header lines, then
  ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult``), matched to images by file stem;
* a folder of VOC XML files (DIOR): ``<bndbox>`` boxes, or DIOR-R's ``<robndbox>`` with the
  four corners (``x_left_top`` ... ``y_left_bottom``) or roLabelImg's ``cx cy w h angle``;
* a COCO JSON file: ``bbox`` boxes and ``segmentation`` polygons, matched by ``file_name``;
* a vector file (GeoJSON, GeoPackage, anything OGR reads) of polygons with a class attribute,
  for georeferenced scenes: geometries are reprojected to each scene's CRS and mapped through
  its inverse transform.

Everything becomes ``SceneObject`` (class, polygon ring in the scene's pixel coordinates,
difficult flag); ``pipeline.object_tiles`` clips them to tiles. Bad annotation files raise
``InputError`` naming the file and the line.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from affine import Affine

from catalogs.errors import InputError

VECTOR_SUFFIXES = (".geojson", ".gpkg", ".shp", ".fgb", ".gml", ".kml")
CLASS_FIELDS = ("class", "label", "category", "name", "type")  # tried in order in vector files


@dataclass(frozen=True)
class SceneObject:
    """One annotated object: ``ring`` is ``((x, y), ...)`` in scene pixels (no closing repeat)."""

    cls: str
    ring: tuple[tuple[float, float], ...]
    difficult: bool = False


def _corners(values, where: str) -> tuple[tuple[float, float], ...]:
    try:
        xy = [float(v) for v in values]
    except ValueError as exc:
        raise InputError(f"{where}: coordinates are not numbers ({exc})") from exc
    return tuple(zip(xy[0::2], xy[1::2]))


def read_dota(text: str, where: str = "labelTxt") -> list[SceneObject]:
    """A DOTA ``labelTxt``: header lines are skipped, objects need 8 numbers and a class."""
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or line.startswith(("imagesource:", "gsd:")):
            continue
        if len(parts) < 9:
            raise InputError(f"{where}:{number}: expected 'x1 y1 ... x4 y4 class [difficult]', got {line!r}")
        difficult = len(parts) > 9 and parts[9] not in ("0", "")
        objects.append(SceneObject(parts[8], _corners(parts[:8], f"{where}:{number}"), difficult))
    return objects


def _robndbox(node: ET.Element, where: str) -> tuple[tuple[float, float], ...]:
    values = {child.tag: child.text for child in node}
    corners = ("x_left_top", "y_left_top", "x_right_top", "y_right_top",
               "x_right_bottom", "y_right_bottom", "x_left_bottom", "y_left_bottom")
    if all(k in values for k in corners):
        return _corners([values[k] for k in corners], where)
    if all(k in values for k in ("cx", "cy", "w", "h", "angle")):  # roLabelImg: angle in radians
        cx, cy, w, h, a = (float(values[k]) for k in ("cx", "cy", "w", "h", "angle"))
        c, s = math.cos(a), math.sin(a)
        return tuple((cx + c * dx - s * dy, cy + s * dx + c * dy)
                     for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)))
    raise InputError(f"{where}: <robndbox> has neither the four corners nor cx/cy/w/h/angle")


def read_voc(text: str, where: str = "xml") -> list[SceneObject]:
    """VOC XML objects: ``<robndbox>`` (DIOR-R) when present, else ``<bndbox>``."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"{where}: not valid XML ({exc})") from exc
    objects = []
    for k, node in enumerate(root.iter("object")):
        name = (node.findtext("name") or "").strip()
        if not name:
            raise InputError(f"{where}: object {k} has no <name>")
        difficult = (node.findtext("difficult") or "0").strip() not in ("0", "")
        rotated, box = node.find("robndbox"), node.find("bndbox")
        if rotated is not None:
            ring = _robndbox(rotated, f"{where}: object {k}")
        elif box is not None:
            x1, y1, x2, y2 = (float(box.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
            if not all(map(math.isfinite, (x1, y1, x2, y2))):
                raise InputError(f"{where}: object {k} has an incomplete <bndbox>")
            ring = ((x1, y1), (x2, y1), (x2, y2), (x1, y2))
        else:
            raise InputError(f"{where}: object {k} has neither <bndbox> nor <robndbox>")
        objects.append(SceneObject(name, ring, difficult))
    return objects


def read_coco(path: str) -> dict[str, list[SceneObject]]:
    """``{file name: objects}`` of a COCO JSON file (polygons when given, else boxes)."""
    try:
        data = json.loads(Path(path).read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        files = {im["id"]: os.path.basename(im["file_name"]) for im in data["images"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a COCO detection file ({exc})") from exc
    out: dict[str, list[SceneObject]] = {name: [] for name in files.values()}
    for ann in data.get("annotations", []):
        where = f"{path}: annotation {ann.get('id')}"
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, list) and segmentation and len(segmentation[0]) >= 6:
            ring = _corners(segmentation[0], where)
        elif "bbox" in ann:
            x, y, w, h = (float(v) for v in ann["bbox"])
            ring = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        else:
            raise InputError(f"{where}: neither a polygon segmentation nor a bbox")
        out[files[ann["image_id"]]].append(
            SceneObject(names[ann["category_id"]], ring, bool(ann.get("iscrowd") or ann.get("difficult"))))
    return out


def read_vector(path: str, crs: str, transform, class_field: str | None = None) -> list[SceneObject]:
    """Polygons of a vector file in a georeferenced scene's pixel coordinates."""
    import geopandas

    try:
        frame = geopandas.read_file(path)
    except Exception as exc:  # noqa: BLE001 - OGR raises many kinds
        raise InputError(f"{path}: could not be read as a vector file ({exc})") from exc
    field = class_field or next((f for f in CLASS_FIELDS if f in frame.columns), None)
    if field is None or field not in frame.columns:
        raise InputError(f"{path}: no class attribute (tried {class_field or ', '.join(CLASS_FIELDS)})")
    if frame.crs is None:
        raise InputError(f"{path}: the vector file has no CRS")
    frame = frame.to_crs(crs)
    inverse = ~Affine(*transform[:6])
    objects = []
    for cls, geom in zip(frame[field], frame.geometry):
        for part in getattr(geom, "geoms", [geom]):
            if part is None or part.is_empty or part.geom_type != "Polygon":
                continue
            xy = np.asarray(part.exterior.coords)[:-1]  # [n, 2] in the scene CRS
            px = xy @ np.array([[inverse.a, inverse.d], [inverse.b, inverse.e]]) + (inverse.c, inverse.f)
            objects.append(SceneObject(str(cls), tuple(map(tuple, px.tolist())), False))
    return objects


class Annotations:
    """Where the objects of each image come from (``--labels`` of a detection build)."""

    def __init__(self, path: str, class_field: str | None = None):
        self.path, self.class_field = path, class_field
        self.kind, self._files, self._coco = self._open(path)

    def _open(self, path: str):
        if os.path.isdir(path):
            files = {}
            for root, _, names in sorted(os.walk(path)):
                for name in sorted(names):
                    stem, suffix = os.path.splitext(name)
                    if suffix.lower() in (".txt", ".xml"):
                        files.setdefault(stem, os.path.join(root, name))
            return "files", files, None
        if path.lower().endswith(".json") and not path.lower().endswith(".geojson"):
            return "coco", {}, read_coco(path)
        if path.lower().endswith(VECTOR_SUFFIXES):
            return "vector", {}, None
        raise InputError(f"{path}: detection labels must be a folder of DOTA .txt / VOC .xml files, a COCO "
                         f".json, or a vector file ({', '.join(VECTOR_SUFFIXES)})")

    def has(self, uri: str) -> bool:
        name = os.path.basename(uri)
        if self.kind == "files":
            return os.path.splitext(name)[0] in self._files
        return name in self._coco if self.kind == "coco" else True

    def objects(self, uri: str, crs: str = "", transform=None) -> list[SceneObject]:
        """The objects of one image (``crs``/``transform``: the scene's, for vector files)."""
        name = os.path.basename(uri)
        if self.kind == "coco":
            return list(self._coco.get(name, []))
        if self.kind == "vector":
            if not crs:
                raise InputError(f"{uri}: vector labels need a georeferenced image")
            return read_vector(self.path, crs, transform, self.class_field)
        file = self._files.get(os.path.splitext(name)[0])
        if file is None:
            return []
        text = Path(file).read_text(errors="replace")
        return read_voc(text, file) if file.endswith(".xml") else read_dota(text, file)


def ring_polygon(ring) -> shapely.Polygon:
    """A valid polygon of an annotated ring (self-crossing quadrilaterals repaired)."""
    polygon = shapely.Polygon(ring)
    return polygon if polygon.is_valid else shapely.make_valid(polygon).convex_hull
