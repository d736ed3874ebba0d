import numpy as np
import pytest
import timm
import torch

from training.masking import MaskConfig, generate_mask
from training.models import MODELS, MaskedImageModel, model_spec, parameter_groups, timm_kwargs
from training.objectives import masked_l1

SMALL = ["swin_nano", "vit_nano"]
LARGE = sorted(set(MODELS) - set(SMALL))


def _batch(size: int, bands: int, kind: str, n: int = 2):
    image = torch.randn(n, bands, size, size)
    mask = np.stack([generate_mask(size, MaskConfig(kind), np.random.default_rng(i)) for i in range(n)])
    return image, torch.from_numpy(mask)


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("bands", [1, 3, 4, 13])
@pytest.mark.parametrize("kind", ["pimask", "simmim", "random"])
def test_small_models_reconstruct_any_band_count(name, bands, kind):
    model = MaskedImageModel(name, bands, MaskConfig(kind))
    image, mask = _batch(model_spec(name).img_size, bands, kind)
    recon = model(image, mask)
    assert recon.shape == image.shape
    loss = masked_l1(recon, image, mask)
    loss.backward()
    assert torch.isfinite(loss) and model.encoder.patch_embed.proj.weight.grad is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_registered_models_build_and_run(name):
    spec = model_spec(name)
    model = MaskedImageModel(name, 4, MaskConfig("pimask")).eval()
    image, mask = _batch(spec.img_size, 4, "pimask", n=1)
    with torch.no_grad():
        assert model(image, mask).shape == image.shape


def test_swin_base_is_ringmos_configuration():
    arch, kwargs = timm_kwargs("swin_base", 3)
    model = timm.create_model(arch, pretrained=False, **kwargs)
    assert model.embed_dim == 128 and [len(s.blocks) for s in model.layers] == [2, 2, 18, 2]
    assert [s.blocks[0].attn.num_heads for s in model.layers] == [4, 8, 16, 32]
    assert model.patch_embed.patch_size == (4, 4) and model.patch_embed.img_size == (192, 192)
    assert model.layers[0].blocks[0].window_size == (6, 6)
    assert model_spec("swin_base").stride() == 32 and model_spec("vit_base").stride() == 16


@pytest.mark.parametrize("name", SMALL)
def test_encoder_state_dict_loads_into_plain_timm(name):
    mim = MaskedImageModel(name, 5, MaskConfig("simmim"))
    arch, kwargs = timm_kwargs(name, 5)
    plain = timm.create_model(arch, pretrained=False, **kwargs)
    plain.load_state_dict(mim.encoder.state_dict(), strict=True)
    x = torch.randn(1, 5, kwargs["img_size"], kwargs["img_size"])
    mim.eval(), plain.eval()
    with torch.no_grad():
        assert torch.allclose(plain.forward_features(x), mim.encoder.forward_features(x))


def test_no_weight_decay_on_norms_biases_tokens_and_position_tables():
    model = MaskedImageModel("vit_nano", 3, MaskConfig("simmim"))
    decay, no_decay = parameter_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert {"mask_token", "encoder.pos_embed", "encoder.cls_token"} <= skipped
    assert all(p.ndim > 1 for p in decay["params"]) and decay["weight_decay"] == 0.05
