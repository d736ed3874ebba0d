"""The product registry: how real satellite and aerial products are recognized, as data.

- ``bands``: per-sensor band tables (name, centre wavelength, native GSD, file tokens, QA kinds)
  and the default band selection of grouped products; :func:`band_spec` is the stable lookup
  the trainer uses for wavelengths.
- ``names``: product naming conventions (regular expressions + decoders) per family.
- ``sidecars``: metadata files beside the rasters (MTL, MTD, manifest.safe, DIMAP, IMD...).
- ``tags``: GDAL/TIFF metadata (platform tags, product JSON, EXIF, photogrammetry software).
- ``identify``: the evidence merged in order (STAC, sidecar, tags, names; GSD last).
- ``grouping`` / ``stack``: per-band files grouped by name and stacked through a VRT.

This ``__init__`` imports only the band tables, so ``pipeline.sensors`` can use them without
an import cycle.
"""

from pipeline.products.bands import BANDS, DEFAULT_BANDS, Band, band_spec, find_band

__all__ = ["BANDS", "DEFAULT_BANDS", "Band", "band_spec", "find_band"]
