import pytest

from training.config import PretrainConfig, config_from_args, query_of, to_dict


def test_flags_override_the_yaml_file_which_overrides_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: vit_tiny\nsteps: 50\nsensors: [aerial]\nbatch_size: 8\n")
    cfg = config_from_args(["--config", str(path), "--out", "r", "--corpus", "c", "--steps", "70",
                            "--bbox=-5,40,5,50", "--split", "train", "--split", "val", "--no-rot90"])
    assert (cfg.model, cfg.steps, cfg.batch_size, cfg.sensors) == ("vit_tiny", 70, 8, ("aerial",))
    assert cfg.bbox == (-5.0, 40.0, 5.0, 50.0) and cfg.splits == ("train", "val") and cfg.rot90 is False
    assert cfg.base_lr == 1e-4 and cfg.mask == "pimask"  # defaults: RingMo's recipe
    query = query_of(cfg)
    assert query.bbox == cfg.bbox and query.sensors == ("aerial",) and query.splits == ("train", "val")
    assert PretrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in to_dict(cfg).items()}) == cfg


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        config_from_args(["--out", "r"])
    (tmp_path / "bad.yaml").write_text("modle: swin_base\n")
    with pytest.raises(ValueError, match="modle"):
        config_from_args(["--config", str(tmp_path / "bad.yaml"), "--out", "r", "--corpus", "c"])


def _selection_flags(parser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings
            if flag.startswith("--") and action.dest != "help"}


def test_pretrain_accepts_every_ringmo_query_selection_flag(tmp_path):
    """``ringmo query`` and the trainer share one selection language (flags and parsing)."""
    import argparse

    from catalogs.options import add_options, values_from
    from catalogs.query import Query
    from training.config import build_parser

    query_parser = argparse.ArgumentParser()
    add_options(query_parser, Query)
    assert _selection_flags(query_parser) <= _selection_flags(build_parser("ringmo pretrain"))
    region = tmp_path / "paris.wkt"
    region.write_text("POLYGON ((2.2 48.8, 2.5 48.8, 2.5 49.0, 2.2 49.0, 2.2 48.8))")
    argv = ["--bbox", "2.0", "48.5", "2.8", "49.2", "--polygon", f"@{region}", "--sensor", "aerial",
            "--gsd-max", "1.0", "--date-from", "2022-01-01", "--split", "train", "--limit", "5",
            "--max-cloud", "0.2"]
    from_query = Query(**values_from(query_parser.parse_args(argv), Query))
    from_trainer = query_of(config_from_args(["--out", str(tmp_path / "run"), "--corpus", "c", *argv]))
    assert from_query == from_trainer and from_query.max_cloud == 0.2
    assert from_query.region().equals(from_trainer.region()) and from_query.region().area > 0
