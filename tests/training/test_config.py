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
