"""CLI flags are generated from config fields: names, types and defaults as declared, once."""

from __future__ import annotations

import argparse

import pytest

from catalogs.errors import ConfigError
from catalogs.options import add_options, fixed_fields, load_config, values_from
from catalogs.query import Query
from pipeline.balance import BalanceConfig
from pipeline.dedup import DedupConfig
from pipeline.split import SplitConfig
from workflows.build_config import BuildConfig
from workflows.cli import parser

#: the flags of ``ringmo build`` before they were generated (each must stay)
BUILD_FLAGS = {"--config", "--tile-size", "--stride", "--gsd", "--edge", "--format", "--labels", "--whole-image",
               "--resize", "--dedup-distance", "--dedup-across-places", "--rotation-invariant", "--h3-resolution",
               "--alpha", "--target-size", "--max-per-scene", "--split", "--shard-max-mb", "--shard-max-count",
               "--seed", "--scheduler", "--workers", "--quiet"}
TILING = {"tile_size", "stride", "gsd", "edge", "format", "jpeg_quality", "min_valid_frac", "min_std", "group_bands",
          "task", "masks", "pair", "classes", "class_attribute", "min_inside", "label_field", "max_cloud",
          "max_upsample",
          "min_entropy", "sensors", "stac_assets", "labels", "whole_image", "resize"}


def _flags(command: str) -> set[str]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {flag for action in sub._actions for flag in action.option_strings if flag.startswith("--")} - {"--help"}


def test_build_and_curate_flags_come_from_build_config():
    assert BUILD_FLAGS <= _flags("build")
    curate = _flags("curate")
    assert not {"--tile-size", "--stride", "--gsd", "--edge", "--format", "--labels", "--resize"} & curate
    assert {"--alpha", "--split", "--dedup-distance", "--seed", "--quiet"} <= curate
    assert set(fixed_fields(BuildConfig)) == TILING == set(BuildConfig().tiling_fields())


def test_flag_values_parse_into_the_field_types():
    build = argparse.ArgumentParser()
    add_options(build, BuildConfig)
    args = build.parse_args(["--tile-size", "128", "--split", "0.6,0.2,0.2", "--no-dedup-across-places",
                             "--format", "jpg"])
    values = values_from(args, BuildConfig)
    assert values == {"tile_size": 128, "split": (0.6, 0.2, 0.2), "dedup_across_places": False, "format": "jpg"}
    with pytest.raises(SystemExit):
        build.parse_args(["--format", "gif"])  # choices come from the field too


def test_query_flags_parse_into_a_query():
    query = argparse.ArgumentParser()
    add_options(query, Query)
    args = query.parse_args(["--bbox", "170", "-10", "-170", "10", "--antimeridian", "--sensor", "a",
                             "--sensor", "b", "--limit", "3"])
    assert Query(**values_from(args, Query)) == Query(bbox=(170.0, -10.0, -170.0, 10.0), antimeridian=True,
                                                      sensors=("a", "b"), limit=3)


def test_each_curation_default_has_one_owner():
    config = BuildConfig()
    assert config.dedup_distance == DedupConfig().max_distance == 10
    assert config.h3_resolution == BalanceConfig().h3_resolution == 5
    split = SplitConfig()
    assert config.split == (split.train, split.val, split.test) == (0.8, 0.1, 0.1)


def test_load_config_layers_and_refuses_unknown_keys(tmp_path):
    path = tmp_path / "build.yaml"
    path.write_text("tile_size: 64\nalpha: 0.2\n")
    config = load_config(BuildConfig, path, alpha=0.7, stride=None)
    assert (config.tile_size, config.alpha, config.stride) == (64, 0.7, None)
    path.write_text("tile_sise: 64\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['tile_sise'\]"):
        load_config(BuildConfig, path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="flat YAML mapping"):
        load_config(BuildConfig, path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(BuildConfig, tmp_path / "none.yaml")


def test_pretrain_resume_fixed_settings_are_marked_on_their_fields():
    from training.config import resume_fixed

    before = {"model", "img_size", "mask", "mask_patch", "mask_ratio", "pixel_ratio", "batch_size", "accum", "seed",
              "shuffle_buffer", "resampled", "epoch_samples", "corpus", "shards", "bbox", "polygon", "sensors",
              "gsd_min", "gsd_max", "date_from", "date_to", "splits", "min_quality", "labels", "limit", "scale_min",
              "rot90", "norm_target", "embed", "layout_alpha"}
    assert set(resume_fixed()) == before | {"antimeridian", "platforms", "products", "max_cloud"}  # the selection grew


def test_commands_that_do_not_build_skip_the_pipeline_imports():
    """``ringmo query``/``validate``/``--help`` build a parser without BuildConfig's flags, so they
    start without importing the pipeline (GDAL, OpenCV, numba: ~1 s); ``build`` gets every flag."""
    import subprocess
    import sys

    code = ("import sys; from workflows.cli import parser; "
            "p = parser('query'); p.parse_args(['query', 'c', '--sensor', 's2']); parser(''); "
            "print(sorted(m for m in ('workflows.build_config', 'rasterio', 'cv2', 'numba') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    sub = next(a for a in parser("build")._actions if isinstance(a, argparse._SubParsersAction))
    assert BUILD_FLAGS <= {f for action in sub.choices["build"]._actions for f in action.option_strings}
