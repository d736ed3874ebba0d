"""Broken and hostile input files, each written by a small function into a directory.

``HOSTILE`` maps a file name to (writer, expectation). An expectation is ``("rejected", text)``
(the scene is rejected with a message containing ``text``) or ``("ok", check)`` where ``check``
names what must hold of the scene's row and tiles (see ``test_hostile_inputs.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

UTM = "EPSG:32631"
SIZE = 192  # two 96 px tiles per side


def texture(bands: int, size: int = SIZE, *, seed: int = 0, dtype="uint8", hi: float = 255.0) -> np.ndarray:
    """``[bands, size, size]`` structured texture (passes quality filters, differs per seed)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((bands, size // 8, size // 8))
    up = np.kron(coarse, np.ones((8, 8)))
    up = 0.7 * up + 0.3 * rng.random(up.shape)
    return (up * hi).astype(dtype)


def write_tif(path: Path, data: np.ndarray, *, crs=UTM, transform=None, nodata=None, **extra) -> Path:
    bands, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype=str(data.dtype),
                   nodata=nodata, **extra)
    if crs is not None:
        profile.update(crs=crs, transform=transform or Affine(10.0, 0, 500000.0, 0, -10.0, 5000000.0))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def truncated(path: Path) -> None:
    write_tif(path, texture(3, seed=1), tiled=True, blockxsize=64, blockysize=64, compress="deflate")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def text_as_tif(path: Path) -> None:
    path.write_text("this is not a raster\n" * 20)


def png_as_tif(path: Path) -> None:
    with rasterio.open(path, "w", driver="PNG", width=SIZE, height=SIZE, count=3, dtype="uint8") as dst:
        dst.write(texture(3, seed=2))


def tif_as_jpg(path: Path) -> None:
    write_tif(path, texture(3, seed=3))


def huge_declared_size(path: Path) -> None:
    """A 40-byte-per-side VRT that claims 3 million x 3 million pixels."""
    source = path.with_suffix(".bin")
    write_tif(source, texture(1, seed=4))
    path.write_text(
        f'<VRTDataset rasterXSize="3000000" rasterYSize="3000000"><VRTRasterBand dataType="Byte" band="1">'
        f'<SimpleSource><SourceFilename relativeToVRT="1">{source.name}</SourceFilename>'
        f'<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')


def _patch_tags(path: Path, values: dict[int, bytes]) -> None:
    """Overwrite inline values (<= 4 bytes) of tags in a little-endian TIFF's first IFD."""
    data = bytearray(path.read_bytes())
    ifd = int.from_bytes(data[4:8], "little")
    for i in range(int.from_bytes(data[ifd:ifd + 2], "little")):
        entry = ifd + 2 + 12 * i
        tag = int.from_bytes(data[entry:entry + 2], "little")
        if tag in values:
            value = values[tag]
            if int.from_bytes(data[entry + 2:entry + 4], "little") == 2:  # ASCII: count = length
                data[entry + 4:entry + 8] = len(value).to_bytes(4, "little")
            data[entry + 8:entry + 8 + len(value)] = value
    path.write_bytes(bytes(data))


def absurd_tiling(path: Path) -> None:
    """A small image whose single internal tile is declared 32768 x 32768 (1 GiB to decode)."""
    write_tif(path, texture(1, 256, seed=5), tiled=True, blockxsize=256, blockysize=256)
    _patch_tags(path, {322: (32768).to_bytes(2, "little"), 323: (32768).to_bytes(2, "little")})


def nan_inf(path: Path) -> None:
    data = texture(3, seed=6, dtype="float32", hi=1000.0)
    data[:, :40, :40] = np.nan
    data[1, 100, 100:110] = np.inf
    data[2, 150, 10:20] = -np.inf
    write_tif(path, data)


def nodata_not_representable(path: Path) -> None:
    write_tif(path, texture(3, seed=7), nodata=99)
    _patch_tags(path, {42113: b"-99\0"})  # GDAL_NODATA: a value uint8 cannot hold


def nodata_missing_zero_collar(path: Path) -> None:
    data = texture(3, seed=8)
    data[:, :, :50] = 0
    write_tif(path, data)


def no_crs(path: Path) -> None:
    write_tif(path, texture(3, seed=9), crs=None)


def zero_pixel_size(path: Path) -> None:
    write_tif(path, texture(3, seed=10), transform=Affine(0.0, 0, 500000.0, 0, 0.0, 5000000.0))


def latitude_out_of_range(path: Path) -> None:
    write_tif(path, texture(3, seed=11), crs="EPSG:4326", transform=Affine(0.001, 0, 10.0, 0, -0.001, 250.0))


def antimeridian(path: Path) -> None:
    write_tif(path, texture(3, seed=12), crs="EPSG:4326", transform=Affine(0.001, 0, 179.9, 0, -0.001, -16.0))


def touches_pole(path: Path) -> None:
    write_tif(path, texture(3, seed=13), crs="EPSG:4326", transform=Affine(0.01, 0, 20.0, 0, -0.001, 90.0))


def polar_stereographic_around_pole(path: Path) -> None:
    write_tif(path, texture(3, seed=14), crs="EPSG:3413", transform=Affine(10.0, 0, -960.0, 0, -10.0, 960.0))


def smaller_than_a_tile(path: Path) -> None:
    write_tif(path, texture(3, 40, seed=15))


def _vrt_band(dtype: str, band: int, source: str) -> str:
    return (f'<VRTRasterBand dataType="{dtype}" band="{band}"><SimpleSource>'
            f'<SourceFilename relativeToVRT="1">{source}</SourceFilename><SourceBand>1</SourceBand>'
            f'</SimpleSource></VRTRasterBand>')


def mixed_dtypes(path: Path) -> None:
    a, b = path.with_name(path.stem + "_a.bin"), path.with_name(path.stem + "_b.bin")
    write_tif(a, texture(1, seed=16))
    write_tif(b, texture(1, seed=17, dtype="uint16", hi=4000.0))
    path.write_text(f'<VRTDataset rasterXSize="{SIZE}" rasterYSize="{SIZE}">'
                    + _vrt_band("Byte", 1, a.name) + _vrt_band("UInt16", 2, b.name) + "</VRTDataset>")


def unreadable_band(path: Path) -> None:
    a = path.with_name(path.stem + "_a.bin")
    write_tif(a, texture(1, seed=18))
    path.write_text(f'<VRTDataset rasterXSize="{SIZE}" rasterYSize="{SIZE}">'
                    + _vrt_band("Byte", 1, a.name) + _vrt_band("Byte", 2, "missing_band.bin")
                    + "</VRTDataset>")


def odd_name(path: Path) -> None:
    write_tif(path, texture(3, seed=19))


def good(path: Path) -> None:
    write_tif(path, texture(3, seed=20))


def same_bytes_as_good(path: Path) -> None:
    shutil.copyfile(path.with_name("good.tif"), path)


#: file name -> (writer, expectation). Order matters only for ``same_bytes_as_good`` (after good).
HOSTILE = {
    "good.tif": (good, ("ok", "tiles")),
    "zero_bytes.tif": (zero_bytes, ("rejected", "empty file (0 bytes)")),
    "truncated.tif": (truncated, ("rejected", "could not be read")),
    "text_named.tif": (text_as_tif, ("rejected", "not a raster GDAL can open")),
    "png_named.tif": (png_as_tif, ("ok", "tiles")),
    "geotiff_named.jpg": (tif_as_jpg, ("ok", "tiles")),
    "bomb_size.vrt": (huge_declared_size, ("rejected", "exceeds the limits")),
    "bomb_tiling.tif": (absurd_tiling, ("rejected", "block")),
    "nan_inf.tif": (nan_inf, ("ok", "finite")),
    "nodata_unrepresentable.tif": (nodata_not_representable, ("ok", "tiles")),
    "nodata_missing_collar.tif": (nodata_missing_zero_collar, ("ok", "tiles")),
    "no_crs.tif": (no_crs, ("ok", "not_georeferenced")),
    "zero_pixel_size.tif": (zero_pixel_size, ("rejected", "not invertible")),
    "latitude_250.tif": (latitude_out_of_range, ("rejected", "latitude")),
    "antimeridian.tif": (antimeridian, ("ok", "antimeridian")),
    "touches_pole.tif": (touches_pole, ("ok", "tiles")),
    "around_pole_3413.tif": (polar_stereographic_around_pole, ("ok", "tiles")),
    "tiny_40px.tif": (smaller_than_a_tile, ("rejected", "smaller than one")),
    "mixed_dtypes.vrt": (mixed_dtypes, ("rejected", "mix dtypes")),
    "unreadable_band.vrt": (unreadable_band, ("rejected", "missing_band.bin")),
    "we ird #1 [x] ?é.tif": (odd_name, ("ok", "tiles")),
    "zz_same_bytes_as_good.tif": (same_bytes_as_good, ("rejected", "same bytes as")),
}


def write_hostile(directory: Path) -> dict[str, Path]:
    """Write every ``HOSTILE`` file into ``directory``; return {name: path}."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (writer, _) in HOSTILE.items():
        paths[name] = directory / name
        writer(paths[name])
    return paths
