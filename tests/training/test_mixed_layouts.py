"""One model across sensors: mixed band layouts in one pretraining run (issue 14).

The mixed corpus imitates ../shared/realdata/geotiff: 3-band uint8 RGB of unknown bands, 4-band
uint16 Landsat 8, 6-band uint16 Sentinel-2 20 m, 1-band float32 Sentinel-1 VV, shuffled
together in the shards as the packer writes them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from catalogs.errors import UsageError
import timm
import torch

from tests.training.corpus import make_mixed_corpus
from tests.training.test_pretrain import _finish, _spawn
from training import checkpoint
from training.config import PretrainConfig
from training.export import export_encoder
from training.layouts import RunLayout, find_layout
from training.masking import MaskConfig, generate_mask
from training.metrics import read_jsonl
from training.models import MaskedImageModel
from training.objectives import masked_l1
from training.pretrain import main, run
from training.weights import read_weights

STABLE = ("step", "epoch", "batch", "loss", "lr")
RGB = RunLayout("a/r,g,b/uint8", 3, "uint8", (0.0,) * 3, (1.0,) * 3, (640.0, 550.0, 470.0), None, 10)
S2 = RunLayout("s2/B05,B06,B07,B8A,B11,B12/uint16", 6, "uint16", (0.0,) * 6, (1.0,) * 6,
               (705.0, 740.0, 783.0, 865.0, 1610.0, 2190.0), (20.0,) * 6, 5)
SAR = RunLayout("unknown/b1/float32", 1, "float32", (0.0,), (1.0,), None, None, 3)  # unplaceable: own input


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_mixed_corpus(tmp_path_factory.mktemp("mixed"))


def _batch(bands: int, n: int = 2, size: int = 64):
    mask = np.stack([generate_mask(size, MaskConfig("pimask", 16), np.random.default_rng(i)) for i in range(n)])
    return torch.randn(n, bands, size, size), torch.from_numpy(mask)


@pytest.mark.parametrize("embed", ["layout", "wavelength"])
@pytest.mark.parametrize("name", ["swin_nano", "vit_nano"])
def test_one_trunk_reconstructs_each_layouts_own_bands(embed, name):
    model = MaskedImageModel(name, 3, MaskConfig("pimask", 16), layouts=(RGB, S2, SAR), embed=embed)
    assert isinstance(model.encoder.patch_embed.proj, torch.nn.Identity)  # the stem projects
    for i, layout in enumerate((RGB, S2, SAR)):
        image, mask = _batch(layout.bands)
        recon = model(image, mask, i)
        assert recon.shape == image.shape
        masked_l1(recon, image, mask).backward()
    trunk = [p for n, p in model.named_parameters() if n.startswith("encoder.layers") or n.startswith("encoder.blocks")]
    assert all(p.grad is not None for p in trunk)


def test_a_new_sensor_needs_no_new_parameters_with_wavelength_embedding():
    model = MaskedImageModel("swin_nano", 3, MaskConfig("pimask", 16), layouts=(RGB, S2), embed="wavelength")
    grown = MaskedImageModel("swin_nano", 3, MaskConfig("pimask", 16), layouts=(RGB, S2, replace(
        S2, key="l8/blue,green,red,nir/uint16", bands=4, wavelengths_nm=(482.0, 561.0, 655.0, 865.0), gsd_m=None)),
        embed="wavelength")
    stem = {k for k, _ in model.stem.named_parameters()}
    assert stem == {k for k, _ in grown.stem.named_parameters()}  # same stem parameters for 3 layouts
    weight, bias = grown.stem.kernel(2)
    assert weight.shape == (32, 4, 4, 4) and bias.shape == (32,)


def test_rgb_is_found_for_three_band_data():
    assert find_layout((S2, SAR, RGB), None, 3) == 2
    assert find_layout((S2, SAR, RGB), "B8A") == 0 and find_layout((S2, SAR, RGB), "1") == 1
    with pytest.raises(UsageError, match="no layout with 5 bands"):
        find_layout((S2, SAR, RGB), None, 5)


def _cfg(corpus, out, **kw) -> PretrainConfig:
    base = dict(out=str(out), corpus=str(corpus), model="swin_nano", steps=7, batch_size=4, num_workers=0,
                log_every=1, checkpoint_every=3, image_every=0, progress=False, deterministic=True,
                shuffle_buffer=5, layout_alpha=0.5)
    base.update(kw)
    return PretrainConfig(**base)


def _losses(run_dir) -> list[tuple]:
    return [tuple(r[k] for k in STABLE) for r in read_jsonl(Path(run_dir) / "metrics.jsonl")]


@pytest.mark.parametrize("embed", ["layout", "wavelength"])
def test_mixed_run_resumes_exactly_and_exports_each_layout(corpus, tmp_path, embed):
    whole = _cfg(corpus, tmp_path / "whole", embed=embed, log_keys=True)
    run(whole)
    broken = replace(whole, out=str(tmp_path / "broken"), stop_after=5)  # dies 2 steps after a checkpoint
    run(broken)
    run(replace(broken, stop_after=None))
    assert _losses(broken.out) == _losses(whole.out)
    layouts = checkpoint.load(checkpoint.latest(whole.out))["layouts"]
    assert len(layouts) == 4 and {l["bands"] for l in layouts} == {1, 3, 4, 6}
    stepped = {s for r in read_jsonl(tmp_path / "whole" / "keys" / "rank0.jsonl") for s in r["keys"]}
    assert len(stepped) > 4 * 4  # several layouts' batches were trained on
    card = export_encoder(checkpoint.latest(whole.out), tmp_path / "rgb")  # default: the RGB layout
    assert card["bands"] == 3 and card["wavelengths_nm"] == [640.0, 550.0, 470.0]
    assert len(card["normalization"]["mean"]) == 3
    card = export_encoder(checkpoint.latest(whole.out), tmp_path / "s2", layout="sentinel2")
    assert card["timm_kwargs"]["in_chans"] == 6
    _same_features_as_the_mim_encoder(checkpoint.latest(whole.out), tmp_path / "s2", "sentinel2")


def _same_features_as_the_mim_encoder(ckpt, out_dir: Path, layout: str) -> None:
    """The exported timm encoder computes what the pretraining model's encoder computed."""
    saved = checkpoint.load(ckpt)
    layouts = tuple(RunLayout.from_dict(d) for d in saved["layouts"])
    index = find_layout(layouts, layout)
    cfg = saved["config"]
    model = MaskedImageModel(cfg["model"], 3, MaskConfig(cfg["mask"], cfg["mask_patch"]), layouts=layouts,
                             embed=cfg["embed"])
    model.load_state_dict(saved["model"])
    card = json.loads((out_dir / "model_card.json").read_text())
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in card["timm_kwargs"].items()}
    plain = timm.create_model(card["timm_arch"], pretrained=False, checkpoint_path=str(out_dir / "encoder.safetensors"),
                              **kwargs).eval()
    image = torch.randn(2, layouts[index].bands, 64, 64)
    with torch.no_grad():
        ours = model.eval().encode(image, torch.zeros(2, 64, 64), index)  # [B, F, h, w]
        theirs = plain.forward_features(image).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_finetune_weights_pick_the_rgb_layout(corpus, tmp_path):
    cfg = _cfg(corpus, tmp_path / "run", steps=2, checkpoint_every=2)
    run(cfg)
    weights = read_weights(checkpoint.latest(cfg.out), bands=3)
    assert weights.in_chans() == 3 and weights.layout()["key"] == "unknown/b1,b2,b3/uint8"
    assert read_weights(checkpoint.latest(cfg.out), layout="landsat8").in_chans() == 4


@pytest.mark.slow
def test_defaults_learn_on_a_mixed_corpus(corpus, tmp_path):
    """Acceptance: ``ringmo pretrain --corpus C --model swin_nano --steps 60 --batch-size 8 --out RUN``."""
    out = tmp_path / "run"
    assert main(["--corpus", str(corpus), "--model", "swin_nano", "--steps", "60", "--batch-size", "8",
                 "--out", str(out)]) == 0
    losses = [r["loss"] for r in read_jsonl(out / "metrics.jsonl")]
    first, last = np.mean(losses[: len(losses) // 5]), np.mean(losses[-(len(losses) // 5):])
    assert last < 0.8 * first, (first, last)


@pytest.mark.slow
def test_torchrun_two_ranks_gloo_resumes_exactly_on_a_mixed_corpus(corpus, tmp_path):
    def args(out, *extra):
        return ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training.pretrain",
                "--corpus", str(corpus), "--model", "swin_nano", "--steps", "6", "--batch-size", "4", "--out", str(out),
                "--num-workers", "1", "--log-every", "1", "--log-keys", "--no-progress", "--checkpoint-every", "3",
                "--device", "cpu", "--deterministic", "--layout-alpha", "0.5", *extra]

    for command in (args(tmp_path / "whole"), args(tmp_path / "broken", "--stop-after", "4"), args(tmp_path / "broken")):
        code, text = _finish(_spawn(command), 600)
        assert code == 0, text
    assert _losses(tmp_path / "broken") == _losses(tmp_path / "whole")
    ranks = [read_jsonl(tmp_path / "whole" / "keys" / f"rank{r}.jsonl") for r in range(2)]
    assert [len(r) for r in ranks] == [6, 6]
    meta = _layout_of_keys(corpus)
    for a, b in zip(*ranks):  # the same layout on both ranks at every step, one per batch
        layouts = {meta[k] for k in a["keys"] + b["keys"]}
        assert len(layouts) == 1


def _layout_of_keys(corpus) -> dict:
    import pyarrow.parquet as pq

    table = pq.read_table(Path(corpus) / "catalog" / "tiles.parquet", columns=["tile_id", "bands"]).to_pylist()
    return {r["tile_id"]: r["bands"] for r in table}
