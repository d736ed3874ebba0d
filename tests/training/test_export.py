"""Exported encoders load in plain timm (no project code) and give the project's features."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.training.corpus import make_corpus
from training import checkpoint
from training.config import PretrainConfig
from training.export import export_encoder
from training.masking import MaskConfig
from training.models import MaskedImageModel
from training.pretrain import run
from training.probe import pooled_features
from training.weights import classifier_kwargs, create, load_encoder, read_weights

PLAIN_TIMM = textwrap.dedent("""
    import json, sys
    import timm
    from safetensors.torch import load_file, save_file
    out = sys.argv[1]
    card = json.load(open(out + "/model_card.json"))
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in card["timm_kwargs"].items()}
    model = timm.create_model(card["timm_arch"], pretrained=False, checkpoint_path=out + "/encoder.safetensors",
                              **kwargs).eval()
    x = load_file(out + "/input.safetensors")["x"]
    save_file({"features": model.forward_features(x).contiguous()}, out + "/plain.safetensors")
    ours = sorted(m for m in sys.modules if m.split(".")[0] in ("catalogs", "pipeline", "training", "workflows"))
    print(json.dumps(ours))
""")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n=8, size=64, per_shard=8)


@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory):
    """``{model: checkpoint path}`` of 2-step pretraining runs, made on first use."""
    made = {}

    def get(model: str):
        if model not in made:
            out = tmp_path_factory.mktemp(model)
            run(PretrainConfig(out=str(out), corpus=str(corpus), model=model, steps=2, batch_size=4, base_lr=0.5,
                               warmup_steps=0, num_workers=0, image_every=0, progress=False, mask="simmim",
                               mask_patch=16))
            made[model] = checkpoint.latest(out)
        return made[model]

    return get


@pytest.mark.parametrize("model", ["swin_nano", "vit_nano"])
def test_exported_encoder_loads_in_plain_timm_with_identical_features(pretrained, tmp_path, model):
    ckpt = pretrained(model)
    out = tmp_path / "export"
    card = export_encoder(ckpt, out)
    assert card["steps"] == 2 and card["corpus_manifest_sha256"] and card["recipe"]["mask"] == "simmim"
    assert (out / "README.md").read_text().count("checkpoint_path=") == 1
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    save_file({"x": x}, str(out / "input.safetensors"))
    done = subprocess.run([sys.executable, "-c", PLAIN_TIMM, str(out)], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []  # no project module was imported
    plain = load_file(str(out / "plain.safetensors"))["features"]

    saved = checkpoint.load(ckpt)
    mim = MaskedImageModel(model, 3, MaskConfig("simmim", 16))
    mim.load_state_dict(saved["model"])
    with torch.no_grad():
        ours = mim.encoder.eval().forward_features(x)
    assert torch.equal(plain, ours)
    assert not torch.equal(ours, MaskedImageModel(model, 3, MaskConfig("simmim", 16)).encoder.eval().forward_features(x))


def test_finetune_loader_resizes_swin_windows_and_keeps_features_at_the_pretraining_size(pretrained):
    ckpt = pretrained("swin_nano")
    weights = read_weights(ckpt)
    assert weights.source == "pretrain-checkpoint" and weights.model == "swin_nano"
    same = create(*classifier_kwargs("swin_nano", 3, 5))
    load_encoder(same, weights)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    mim = MaskedImageModel("swin_nano", 3, MaskConfig("simmim", 16))
    mim.load_state_dict(checkpoint.load(ckpt)["model"])
    with torch.no_grad():
        assert torch.allclose(same.eval().forward_features(x), mim.encoder.eval().forward_features(x))
    bigger = create(*classifier_kwargs("swin_nano", 3, 5, img_size=96, window_size=6))  # 64/w4 -> 96/w6
    report = load_encoder(bigger, weights)
    assert all(k.startswith("head.") for k in report["missing"])
    table = "layers.0.blocks.0.attn.relative_position_bias_table"
    assert bigger.state_dict()[table].shape[0] == (2 * 6 - 1) ** 2 != weights.state[table].shape[0]
    with torch.no_grad():
        assert pooled_features(bigger.eval(), torch.randn(1, 3, 96, 96)).shape == (1, 256)


def test_weights_with_missing_encoder_tensors_are_refused(pretrained):
    ckpt = pretrained("vit_nano")
    weights = read_weights(ckpt)
    broken = type(weights)({k: v for k, v in weights.state.items() if "blocks.1." not in k}, weights.source)
    with pytest.raises(ValueError, match="lack"):
        load_encoder(create(*classifier_kwargs("vit_nano", 3, 4)), broken)
