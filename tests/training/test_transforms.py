import cv2
import numpy as np
import pytest

from training.transforms import AugmentConfig, augment, crop_box, resize


def test_crop_box_keeps_two_thirds_to_all_of_the_area():
    cfg = AugmentConfig(img_size=64)
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = crop_box(100, 120, cfg, rng)
        assert 0 <= top and top + h <= 100 and 0 <= left and left + w <= 120
        assert 0.6 * 12000 <= h * w <= 12000 * 1.02


@pytest.mark.parametrize("bands,dtype", [(1, np.uint8), (3, np.uint8), (4, np.uint16), (13, np.uint16), (2, np.float32)])
def test_augment_keeps_bands_and_dtype(bands, dtype):
    tile = (np.random.default_rng(1).random((96, 80, bands)) * 200).astype(dtype)
    out = augment(tile, AugmentConfig(img_size=32), np.random.default_rng(2))
    assert out.shape == (32, 32, bands) and out.dtype == dtype
    again = augment(tile, AugmentConfig(img_size=32), np.random.default_rng(2))
    assert np.array_equal(out, again)  # the seed decides everything


def test_resize_of_many_bands_matches_band_by_band():
    tile = np.random.default_rng(3).random((200, 200, 9)).astype(np.float32)
    whole = resize(tile, 48)
    for b in range(9):
        assert np.allclose(whole[:, :, b], resize(tile[:, :, b : b + 1], 48)[:, :, 0])
    flat = np.full((300, 300, 3), 7, np.uint8)
    assert np.all(resize(flat, 64) == 7)  # the integer box pre-shrink keeps values


def test_flips_and_rotations_cover_the_eight_symmetries():
    tile = np.arange(16 * 16, dtype=np.float32).reshape(16, 16, 1)
    cfg = AugmentConfig(img_size=16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    seen = {augment(tile, cfg, np.random.default_rng(s)).tobytes() for s in range(200)}
    assert len(seen) == 8
    assert augment(tile, AugmentConfig(img_size=16, train=False), np.random.default_rng(0)).tobytes() == tile.tobytes()


def test_batched_device_augment_applies_the_same_draws_as_the_cpu_path():
    import torch

    from training.transforms import augment_batch, draw

    rng = np.random.default_rng(4)
    tiles = rng.integers(0, 255, (6, 96, 96, 3)).astype(np.uint8)
    tiles = np.stack([cv2.GaussianBlur(t, (0, 0), 3) for t in tiles])  # smooth: resizes agree
    cfg = AugmentConfig(img_size=40)
    draws = np.stack([draw(96, 96, cfg, np.random.default_rng(i)) for i in range(6)])
    cpu = np.stack([augment(t, cfg, np.random.default_rng(i)) for i, t in enumerate(tiles)])
    dev = augment_batch(torch.from_numpy(tiles).permute(0, 3, 1, 2).float(), torch.from_numpy(draws), 40)
    assert dev.shape == (6, 3, 40, 40)
    assert np.abs(dev.permute(0, 2, 3, 1).numpy() - cpu).max() <= 1.0  # rounding of the uint8 path


def test_identity_draws_leave_a_cropped_tile_unchanged_on_the_device():
    """A batch mixing tile sizes is cropped on the CPU and shipped with identity draws."""
    import torch

    from training.transforms import apply_draws, augment_batch, draw, identity_draws

    tile = np.random.default_rng(0).integers(0, 255, (70, 90, 3)).astype(np.uint8)
    cfg = AugmentConfig(img_size=32)
    cropped = apply_draws(tile, draw(70, 90, cfg, np.random.default_rng(1)), 32)
    assert np.array_equal(cropped, augment(tile, cfg, np.random.default_rng(1)))
    out = augment_batch(torch.from_numpy(cropped[None]).permute(0, 3, 1, 2).float(),
                        torch.from_numpy(identity_draws(32)[None]), 32)
    assert torch.equal(out[0].permute(1, 2, 0), torch.from_numpy(cropped).float())
