"""Map ``BuildConfig`` curation settings onto the curate stage (TEMPORARY until pipeline.curate lands)."""

from __future__ import annotations

import pyarrow as pa

from catalogs.schema import CATALOG_SCHEMA, conform


def curate_config_from(config):
    return config


def run_curation(candidates: pa.Table, config) -> pa.Table:
    table = candidates.append_column("split", pa.array(["train"] * candidates.num_rows))
    return conform(table, CATALOG_SCHEMA)
