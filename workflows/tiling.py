"""Map ``BuildConfig`` tiling settings onto the tile stage's own config."""

from __future__ import annotations

from catalogs.errors import ConfigError
from pipeline.quality import QualityConfig
from pipeline.tiler import TileConfig
from pipeline.windows import TileGrid
from workflows.build_config import BuildConfig


def _grid(config: BuildConfig) -> TileGrid:
    """A tile grid, or one whole-image window per input (labeled builds, unless asked to tile)."""
    if not config.whole():
        return TileGrid(tile_size=config.tile_size, stride=config.stride, target_gsd_m=config.gsd,
                        edge=config.edge)
    if config.stride is not None or config.gsd is not None:
        raise ConfigError("--stride/--gsd", "whole-image samples (the default of labeled builds) take --resize, "
                          "not --stride or --gsd; give --tile-size (or --no-whole-image) to tile the images instead")
    return TileGrid(tile_size=config.resize or 0, edge=config.edge, whole=True)


def _quality(config: BuildConfig) -> QualityConfig:
    """Detection tiles are kept whatever their texture: a plain tile of sea with one ship, or an
    image smaller than a tile (padded), still holds objects to learn or to score."""
    if config.detection():
        return QualityConfig(min_valid_frac=0.0, min_std=0.0, min_entropy=0.0, max_cloud=1.0)
    return QualityConfig(min_valid_frac=config.min_valid_frac, min_std=config.min_std,
                         min_entropy=config.min_entropy, max_cloud=config.max_cloud)


def tile_config_from(config: BuildConfig) -> TileConfig:
    return TileConfig(
        grid=_grid(config),
        quality=_quality(config),
        format=None if config.format == "auto" else config.format,
        jpeg_quality=config.jpeg_quality,
        max_upsample=config.max_upsample,
    )
