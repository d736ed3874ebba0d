"""One multiband scene from a product's per-band files: a GDAL VRT, no pixel copies.

The VRT puts every selected band on one grid: the finest member's pixel size and alignment,
over the area all members cover (their intersection, so no band has a collar the others lack).
Coarser bands are upsampled by GDAL at read time (nearest: values stay the product's own). The
XML is a pure function of the members' headers, so the same files give the same bytes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
from rasterio.errors import NotGeoreferencedWarning

from pipeline.gdal_env import gdal_env, open_raster
from pipeline.scene import SceneError
from pipeline.uris import to_gdal_path

_GDAL_TYPES = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
               "int32": "Int32", "uint64": "UInt64", "int64": "Int64", "float32": "Float32",
               "float64": "Float64"}


@dataclass(frozen=True)
class Member:
    """Header facts of one band file (its first band)."""

    band: str  # registry band name
    uri: str
    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]
    crs_wkt: str
    dtype: str
    nodata: float | None
    block: tuple[int, int]  # (rows, cols)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        a, _, c, _, e, f = self.transform
        xs, ys = (c, c + a * self.width), (f, f + e * self.height)
        return min(xs), min(ys), max(xs), max(ys)


def read_member(band: str, uri: str, group: str) -> Member:
    """Open one band file for its header; a file that does not open rejects the group."""
    try:
        with gdal_env(uri), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with open_raster(to_gdal_path(uri)) as ds:
                t = ds.transform
                return Member(band, uri, ds.width, ds.height, (t.a, t.b, t.c, t.d, t.e, t.f),
                              ds.crs.to_wkt() if ds.crs else "", ds.dtypes[0],
                              None if ds.nodata is None else float(ds.nodata),
                              tuple(int(v) for v in ds.block_shapes[0]))
    except Exception as exc:  # noqa: BLE001 - any GDAL failure rejects the product, naming the file
        raise SceneError(group, f"band {band} ({uri}) could not be opened: {exc}") from exc


def _check_compatible(members: list[Member], group: str) -> None:
    first = members[0]
    for m in members:
        if not m.crs_wkt:
            raise SceneError(group, f"band {m.band} ({m.uri}) is not georeferenced; per-band files are "
                                    "stacked by their georeferencing")
        if m.transform[1] != 0 or m.transform[3] != 0:
            raise SceneError(group, f"band {m.band} ({m.uri}) has a rotated grid; cannot stack it")
        if m.crs_wkt != first.crs_wkt:
            raise SceneError(group, f"bands {first.band} and {m.band} are in different CRSs; not one product")


def target_grid(members: list[Member], group: str) -> tuple[tuple[float, ...], int, int]:
    """(transform, width, height): finest member's pixel grid over the members' common area."""
    finest = min(members, key=lambda m: abs(m.transform[0] * m.transform[4]))
    res_x, res_y = finest.transform[0], -abs(finest.transform[4])
    xmin = max(m.bounds[0] for m in members)
    ymin = max(m.bounds[1] for m in members)
    xmax = min(m.bounds[2] for m in members)
    ymax = min(m.bounds[3] for m in members)
    if xmin >= xmax or ymin >= ymax:
        raise SceneError(group, "the band files do not overlap on the ground; not one product")
    ox, oy = finest.transform[2], finest.transform[5]
    col0 = math.ceil((xmin - ox) / res_x - 1e-6)
    row0 = math.ceil((oy - ymax) / -res_y - 1e-6)
    col1 = math.floor((xmax - ox) / res_x + 1e-6)
    row1 = math.floor((oy - ymin) / -res_y + 1e-6)
    if col1 <= col0 or row1 <= row0:
        raise SceneError(group, "the band files overlap by less than one pixel")
    transform = (res_x, 0.0, ox + col0 * res_x, 0.0, res_y, oy + row0 * res_y)
    return transform, col1 - col0, row1 - row0


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _source_xml(m: Member, transform, dtype: str) -> str:
    res_x, _, x0, _, res_y, y0 = transform
    a, _, c, _, e, f = m.transform
    x_off, y_off = (c - x0) / res_x, (f - y0) / res_y
    x_size, y_size = m.width * a / res_x, m.height * e / res_y
    kind = "ComplexSource" if m.nodata is not None else "SimpleSource"
    nodata = f"\n      <NODATA>{_num(m.nodata)}</NODATA>" if m.nodata is not None else ""
    return (
        f'    <{kind} resampling="nearest">\n'
        f'      <SourceFilename relativeToVRT="0">{escape(to_gdal_path(m.uri))}</SourceFilename>\n'
        f"      <SourceBand>1</SourceBand>\n"
        f'      <SourceProperties RasterXSize="{m.width}" RasterYSize="{m.height}" '
        f'DataType="{_GDAL_TYPES[m.dtype]}" BlockXSize="{m.block[1]}" BlockYSize="{m.block[0]}"/>\n'
        f'      <SrcRect xOff="0" yOff="0" xSize="{m.width}" ySize="{m.height}"/>\n'
        f'      <DstRect xOff="{_num(x_off)}" yOff="{_num(y_off)}" xSize="{_num(x_size)}" '
        f'ySize="{_num(y_size)}"/>{nodata}\n'
        f"    </{kind}>\n"
    )


def stack_vrt(members: list[Member], group: str, metadata: dict[str, str] | None = None) -> str:
    """VRT XML stacking ``members`` (in order) as named bands on one grid.

    Mixed integer/float members are promoted to one dtype (the tiler needs one per sample).
    """
    if not members:
        raise SceneError(group, "no band files selected")
    _check_compatible(members, group)
    transform, width, height = target_grid(members, group)
    dtype = str(np.result_type(*[np.dtype(m.dtype) for m in members]))
    if dtype not in _GDAL_TYPES:
        raise SceneError(group, f"band dtypes {[m.dtype for m in members]} have no common GDAL type")
    a, _, c, _, e, f = transform
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n',
             f'  <SRS dataAxisToSRSAxisMapping="1,2">{escape(members[0].crs_wkt)}</SRS>\n',
             f"  <GeoTransform>{_num(c)}, {_num(a)}, 0, {_num(f)}, 0, {_num(e)}</GeoTransform>\n"]
    if metadata:
        items = "".join(f'    <MDI key="{escape(k)}">{escape(str(v))}</MDI>\n' for k, v in sorted(metadata.items()))
        lines.append(f"  <Metadata>\n{items}  </Metadata>\n")
    nodatas = {m.nodata for m in members}
    for index, m in enumerate(members, start=1):
        lines.append(f'  <VRTRasterBand dataType="{_GDAL_TYPES[dtype]}" band="{index}">\n')
        lines.append(f"    <Description>{escape(m.band)}</Description>\n")
        if len(nodatas) == 1 and m.nodata is not None:
            lines.append(f"    <NoDataValue>{_num(m.nodata)}</NoDataValue>\n")
        lines.append(_source_xml(m, transform, dtype))
        lines.append("  </VRTRasterBand>\n")
    lines.append("</VRTDataset>\n")
    return "".join(lines)
