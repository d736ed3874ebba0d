"""Map ``BuildConfig`` tiling settings onto the tile stage's own config."""

from __future__ import annotations

from pipeline.quality import QualityConfig
from pipeline.tiler import TileConfig
from pipeline.windows import TileGrid
from workflows.build_config import BuildConfig


def tile_config_from(config: BuildConfig) -> TileConfig:
    return TileConfig(
        grid=TileGrid(tile_size=config.tile_size, stride=config.stride, target_gsd_m=config.gsd,
                      edge=config.edge),
        quality=QualityConfig(min_valid_frac=config.min_valid_frac, min_std=config.min_std,
                              min_entropy=config.min_entropy),
        format=None if config.format == "auto" else config.format,
        jpeg_quality=config.jpeg_quality,
    )
