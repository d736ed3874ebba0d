"""Map ``BuildConfig`` curation settings onto the curate stage and run it."""

from __future__ import annotations

import pyarrow as pa

from pipeline.balance import BalanceConfig
from pipeline.curate import CurateConfig, accounting, curate
from pipeline.dedup import DedupConfig
from pipeline.dense import TASKS as DENSE_TASKS
from pipeline.split import SplitConfig
from workflows.build_config import BuildConfig


def curate_config_from(config: BuildConfig) -> CurateConfig:
    train, val, test = config.split
    return CurateConfig(
        dedup=DedupConfig(max_distance=config.dedup_distance,
                          require_overlap=not config.dedup_across_places,
                          rotation_invariant=config.rotation_invariant, seed=config.seed),
        balance=BalanceConfig(h3_resolution=config.h3_resolution, alpha=config.alpha,
                              target_size=config.target_size, max_per_scene=config.max_per_scene,
                              seed=config.seed),
        split=SplitConfig(train=train, val=val, test=test,
                          block_resolution=config.split_block_resolution, seed=config.seed,
                          by=config.split_by or ("scene" if config.task in DENSE_TASKS else "block")),
    )


def run_curation(candidates: pa.Table, config: CurateConfig) -> pa.Table:
    """Curate, then check the accounting invariant before anything is packed."""
    curated = curate(candidates, config)
    accounting(curated)
    return curated
