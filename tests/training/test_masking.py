import math

import numpy as np
import pytest
import torch

from training.masking import MaskConfig, generate_mask
from training.models import MaskedImageModel
from training.objectives import masked_l1, patch_normalized


def _patch_counts(mask: np.ndarray, p: int) -> np.ndarray:
    g = mask.shape[0] // p
    return mask.reshape(g, p, g, p).sum(axis=(1, 3)).ravel()  # masked pixels per patch


@pytest.mark.parametrize("size", [64, 96, 192])
def test_pimask_picks_60pc_of_patches_and_60pc_of_their_pixels(size):
    cfg = MaskConfig("pimask")
    mask = generate_mask(size, cfg, np.random.default_rng(1))
    counts = _patch_counts(mask, 32)
    n = (size // 32) ** 2
    assert mask.shape == (size, size) and mask.dtype == np.uint8
    assert (counts > 0).sum() == math.ceil(0.6 * n)
    assert set(counts[counts > 0].tolist()) == {math.ceil(0.6 * 32 * 32)}  # ~40 % stays visible
    assert mask.mean() == pytest.approx(math.ceil(0.6 * n) / n * 615 / 1024)


def test_pimask_pixels_are_scattered_not_blocks():
    mask = generate_mask(192, MaskConfig("pimask"), np.random.default_rng(2))
    patch = next(mask[y:y + 32, x:x + 32] for y in range(0, 192, 32) for x in range(0, 192, 32)
                 if mask[y:y + 32, x:x + 32].any())
    rows = patch.sum(axis=1)
    assert rows.min() > 0 and rows.max() < 32  # every row partly masked: pixel by pixel


def test_simmim_masks_whole_patches_and_random_masks_pixels():
    simmim = generate_mask(192, MaskConfig("simmim"), np.random.default_rng(3))
    counts = _patch_counts(simmim, 32)
    assert set(counts.tolist()) == {0, 1024} and (counts > 0).sum() == math.ceil(0.6 * 36)
    random = generate_mask(96, MaskConfig("random", ratio=0.5), np.random.default_rng(3))
    assert random.sum() == math.ceil(0.5 * 96 * 96)


def test_masks_follow_their_seed():
    cfg = MaskConfig("pimask")
    a, b = (generate_mask(96, cfg, np.random.default_rng(s)) for s in (7, 7))
    c = generate_mask(96, cfg, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        generate_mask(100, MaskConfig("pimask"), np.random.default_rng(0))
    with pytest.raises(ValueError):
        MaskConfig("blocks")


def _embed_input(model: MaskedImageModel, image, mask) -> torch.Tensor:
    seen = {}
    hook = model.encoder.patch_embed.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    model(image, mask)
    hook.remove()
    return seen["x"]


@pytest.mark.parametrize("name", ["swin_nano", "vit_nano"])
def test_pimask_zeroes_masked_pixels_before_patch_embedding(name):
    model = MaskedImageModel(name, 3, MaskConfig("pimask"))
    image = torch.randn(2, 3, 64, 64) + 3.0  # no accidental zeros
    mask = torch.from_numpy(np.stack([generate_mask(64, MaskConfig("pimask"), np.random.default_rng(i)) for i in range(2)]))
    x = _embed_input(model, image, mask)
    m = mask.bool().unsqueeze(1).expand_as(image)
    assert torch.all(x[m] == 0) and torch.equal(x[~m], image[~m])


@pytest.mark.parametrize("name", ["swin_nano", "vit_nano"])
def test_simmim_uses_a_mask_token_not_zeros(name):
    model = MaskedImageModel(name, 3, MaskConfig("simmim")).eval()
    image = torch.randn(1, 3, 64, 64)
    mask = torch.from_numpy(generate_mask(64, MaskConfig("simmim"), np.random.default_rng(0)))[None]
    assert torch.equal(_embed_input(model, image, mask), image)
    with torch.no_grad():
        before = model(image, mask)
        model.mask_token.add_(1.0)
        after = model(image, mask)
    assert not torch.allclose(before, after)  # the token reaches the output


def test_loss_counts_masked_pixels_only():
    rng = np.random.default_rng(0)
    target = torch.randn(2, 4, 64, 64)
    mask = torch.from_numpy(np.stack([generate_mask(64, MaskConfig("pimask"), rng) for _ in range(2)]))
    pred = target + 1.0  # error 1 everywhere
    assert masked_l1(pred, target, mask).item() == pytest.approx(1.0)
    visible = mask.bool().logical_not().unsqueeze(1).expand_as(pred)
    noisy = pred.clone()
    noisy[visible] += 100.0  # visible pixels never count
    assert masked_l1(noisy, target, mask).item() == pytest.approx(1.0)
    shifted = pred.clone()
    shifted[~visible] += 1.0  # masked pixels do
    assert masked_l1(shifted, target, mask).item() == pytest.approx(2.0)


def test_patch_normalized_target_is_standard_per_patch():
    target = torch.randn(1, 2, 64, 64) * 5 + 3
    out = patch_normalized(target, 32).reshape(1, 2, 2, 32, 2, 32)
    assert torch.allclose(out.mean(dim=(3, 5)), torch.zeros(1, 2, 2, 2), atol=1e-5)
    assert torch.allclose(out.std(dim=(3, 5), unbiased=False), torch.ones(1, 2, 2, 2), atol=1e-3)


def test_exact_subsets_are_exact_and_uniform():
    from training.masking import exact_subsets

    rng = np.random.default_rng(0)
    draws = np.stack([exact_subsets(4, 64, 20, rng) for _ in range(3000)])  # [3000, 4, 64]
    assert np.all(draws.sum(axis=2) == 20)
    freq = draws.mean(axis=0)  # every pixel picked with probability 20/64
    assert np.abs(freq - 20 / 64).max() < 5 * np.sqrt(20 / 64 * 44 / 64 / 3000)
    tiny = np.stack([exact_subsets(1, 3, 2, rng) for _ in range(3000)])[:, 0]
    assert {tuple(row) for row in tiny} == {(1, 1, 0), (1, 0, 1), (0, 1, 1)}


def test_exact_subsets_draw_among_tied_keys():
    from training.masking import exact_subsets

    class AllTied:  # every key equal: the whole choice happens in the tie-breaking draw
        real = np.random.default_rng(1)

        def integers(self, low, high, size, dtype):
            return np.zeros(size, dtype=dtype)

        def choice(self, *args, **kwargs):
            return self.real.choice(*args, **kwargs)

    draws = np.stack([exact_subsets(2, 10, 4, AllTied()) for _ in range(2000)])
    assert np.all(draws.sum(axis=2) == 4)
    assert np.abs(draws.mean(axis=0) - 0.4).max() < 0.06


@pytest.mark.parametrize("kind", ["pimask", "simmim", "random"])
def test_batched_device_masks_have_the_cpu_masks_counts(kind):
    import torch

    from training.masking import mask_batch

    cfg = MaskConfig(kind, mask_patch=16)
    batch = mask_batch(5, 64, cfg, torch.Generator().manual_seed(1), "cpu")  # [B, H, W]
    single = generate_mask(64, cfg, np.random.default_rng(0))
    assert batch.shape == (5, 64, 64) and batch.dtype == torch.uint8
    assert (batch.sum(dim=(1, 2)) == int(single.sum())).all()  # exact counts, as on the CPU
    patches = batch.view(5, 4, 16, 4, 16).sum(dim=(2, 4))  # masked pixels per patch
    if kind != "random":
        assert set(patches.unique().tolist()) == {0, int(single.reshape(4, 16, 4, 16).sum(axis=(1, 3)).max())}
    assert not torch.equal(batch[0], batch[1])
    assert torch.equal(batch, mask_batch(5, 64, cfg, torch.Generator().manual_seed(1), "cpu"))
