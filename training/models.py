"""The MIM model: a plain timm encoder (Swin or ViT) + SimMIM's one-layer decoder.

The encoder stays an unmodified ``timm.create_model`` module, so its state dict loads back into
``timm.create_model(name, **kwargs)`` for fine-tuning. The MIM wrapper replays the encoder's
``forward_features`` step by step to slip SimMIM's learnable mask token in after the patch
embedding (PIMask and random masks instead zero the pixels before it). The decoder is SimMIM's:
a 1x1 conv to ``stride**2 * bands`` channels then ``PixelShuffle(stride)`` back to pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch
from torch import nn

from catalogs.errors import ConfigError
from training.masking import MaskConfig


@dataclass(frozen=True)
class ModelSpec:
    """A registered encoder: timm architecture + overrides, input size and patch size."""

    family: str  # swin | vit
    timm_name: str
    img_size: int
    patch_size: int
    overrides: tuple[tuple[str, object], ...] = field(default=())

    def stride(self) -> int:
        """Pixels per output feature: Swin halves 3 times after its patch embedding."""
        if self.family == "swin":
            depths = dict(self.overrides).get("depths", (2, 2, 6, 2))
            return self.patch_size * 2 ** (len(depths) - 1)
        return self.patch_size


MODELS: dict[str, ModelSpec] = {
    # RingMo's encoder: Swin-B (embed 128, depths 2-2-18-2, heads 4-8-16-32), patch 4, window 6, 192 px
    "swin_base": ModelSpec("swin", "swin_base_patch4_window7_224", 192, 4, (("window_size", 6),)),
    "swin_tiny": ModelSpec("swin", "swin_tiny_patch4_window7_224", 192, 4, (("window_size", 6),)),
    "vit_base": ModelSpec("vit", "vit_base_patch16_224", 224, 16),
    "vit_tiny": ModelSpec("vit", "vit_tiny_patch16_224", 224, 16),
    # CPU-sized configurations for tests and the demo
    "swin_nano": ModelSpec("swin", "swin_tiny_patch4_window7_224", 64, 4, (
        ("embed_dim", 32), ("depths", (1, 1, 2, 1)), ("num_heads", (1, 2, 4, 8)), ("window_size", 4))),
    "vit_nano": ModelSpec("vit", "vit_tiny_patch16_224", 64, 8, (
        ("patch_size", 8), ("embed_dim", 64), ("depth", 2), ("num_heads", 2))),
}


class UnknownModelError(ConfigError, KeyError):
    """A model name that is not registered (a ``KeyError`` too: it is a failed registry look-up)."""

    __str__ = ConfigError.__str__  # KeyError would quote the message


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UnknownModelError("--model", f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def timm_kwargs(name: str, in_chans: int, img_size: int | None = None) -> tuple[str, dict]:
    """``(timm architecture, kwargs)`` that rebuild the encoder with ``timm.create_model``."""
    spec = model_spec(name)
    kwargs = dict(spec.overrides)
    kwargs.update(img_size=img_size or spec.img_size, in_chans=in_chans, num_classes=0)
    return spec.timm_name, kwargs


def build_encoder(name: str, in_chans: int, img_size: int | None = None) -> nn.Module:
    arch, kwargs = timm_kwargs(name, in_chans, img_size)
    return timm.create_model(arch, pretrained=False, **kwargs)


class MaskedImageModel(nn.Module):
    """Encoder + decoder; ``forward(image [B,C,H,W], mask [B,H,W]) -> reconstruction [B,C,H,W]``."""

    def __init__(self, name: str, in_chans: int, mask: MaskConfig, img_size: int | None = None):
        super().__init__()
        spec = model_spec(name)
        self.family, self.patch_size, self.stride = spec.family, spec.patch_size, spec.stride()
        self.zero_pixels = mask.zeroes_pixels
        if not self.zero_pixels and mask.mask_patch % self.patch_size:
            raise ValueError(f"SimMIM mask patch {mask.mask_patch} must be a multiple of patch {self.patch_size}")
        self.encoder = build_encoder(name, in_chans, img_size)
        width = self.encoder.patch_embed.proj.out_channels
        self.mask_token = None
        if not self.zero_pixels:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
            nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.decoder = nn.Sequential(
            nn.Conv2d(self.encoder.num_features, self.stride**2 * in_chans, kernel_size=1),
            nn.PixelShuffle(self.stride),
        )

    def _embed(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.encoder.patch_embed(image)  # swin [B, h, w, D]; vit [B, h*w, D]
        if self.mask_token is not None:
            p = self.patch_size
            tokens = mask[:, ::p, ::p].to(x.dtype)  # [B, h, w]: SimMIM masks whole patches
            tokens = tokens.reshape(x.shape[0], *x.shape[1:-1], 1)
            x = x * (1 - tokens) + self.mask_token.to(x.dtype) * tokens
        return x

    def encode(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Feature map ``[B, F, H/stride, W/stride]`` (timm's forward_features, mask inserted)."""
        enc = self.encoder
        x = self._embed(image, mask)
        if self.family == "swin":
            x = enc.norm(enc.layers(x))  # [B, h', w', F]
            return x.permute(0, 3, 1, 2)
        x = enc.norm(enc.blocks(enc.norm_pre(enc.patch_drop(enc._pos_embed(x)))))  # [B, T+L, F]
        x = x[:, enc.num_prefix_tokens :]  # [B, L, F]
        side = image.shape[-1] // self.patch_size
        return x.transpose(1, 2).reshape(x.shape[0], -1, image.shape[-2] // self.patch_size, side)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.zero_pixels:
            image = image * (1 - mask.unsqueeze(1).to(image.dtype))  # masked pixels -> 0
        return self.decoder(self.encode(image, mask))  # [B, C, H, W]


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no decay on norms, biases, position tables and the mask token (SimMIM)."""
    skip_names = set()
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "no_weight_decay"):
        skip_names = {f"encoder.{n}" for n in encoder.no_weight_decay()}
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        bare = name.removeprefix("module.").removeprefix("_orig_mod.")
        if param.ndim <= 1 or bare in skip_names or "mask_token" in bare or "position_bias" in bare:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
