"""The MIM model: a plain timm encoder (Swin or ViT) + SimMIM's one-layer decoder.

The encoder stays an unmodified ``timm.create_model`` module, so its state dict loads back into
``timm.create_model(name, **kwargs)`` for fine-tuning. The MIM wrapper replays the encoder's
``forward_features`` step by step to slip SimMIM's learnable mask token in after the patch
embedding (PIMask and random masks instead zero the pixels before it). The decoder is SimMIM's:
a 1x1 conv to ``stride**2 * bands`` channels then ``PixelShuffle(stride)`` back to pixels.

Mixed band layouts (``layouts`` of more than one ``training.layouts.RunLayout``, or ``embed=
"wavelength"``): the trunk stays the one timm encoder, its ``patch_embed.proj`` gives way to a
stem (``training.stems``) that embeds each layout's bands, and each layout has its own decoder
head reconstructing its own bands. ``forward(image, mask, layout)`` names the batch's layout.
With one layout and the default embedding the model is exactly the single-layout one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch
from torch import nn

from timm.layers import Format, nchw_to

from catalogs.errors import ConfigError
from training.masking import MaskConfig
from training.stems import make_stem


@dataclass(frozen=True)
class ModelSpec:
    """A registered encoder: timm architecture + overrides, input size and patch size."""

    family: str  # swin | vit
    timm_name: str
    img_size: int
    patch_size: int
    overrides: tuple[tuple[str, object], ...] = field(default=())
    # the default MIM mask patch: RingMo's 32 px at 192 px is a 6x6 grid; the 64 px CPU models
    # take 16 px (a 4x4 grid), since 32 px would leave 4 patches and mask most of the image
    mask_patch: int = 32

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
        ("embed_dim", 32), ("depths", (1, 1, 2, 1)), ("num_heads", (1, 2, 4, 8)), ("window_size", 4)), 16),
    "vit_nano": ModelSpec("vit", "vit_tiny_patch16_224", 64, 8, (
        ("patch_size", 8), ("embed_dim", 64), ("depth", 2), ("num_heads", 2)), 16),
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

    def __init__(self, name: str, in_chans: int, mask: MaskConfig, img_size: int | None = None,
                 layouts: tuple = (), embed: str = "auto"):
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
        self.embed = stem_kind(layouts, embed)
        self.stem, self.decoder, self.decoders = None, None, None
        if self.embed is None:
            self.decoder = self._head(in_chans)
            return
        self.encoder.patch_embed.proj = nn.Identity()  # the stem projects; the trunk is unchanged
        self.stem = make_stem(self.embed, layouts, width, self.patch_size)
        self.decoders = nn.ModuleDict({f"l{i}": self._head(l.bands) for i, l in enumerate(layouts)})

    def _head(self, bands: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(self.encoder.num_features, self.stride**2 * bands, kernel_size=1),
            nn.PixelShuffle(self.stride),
        )

    def _patch_embed(self, image: torch.Tensor, layout: int) -> torch.Tensor:
        """timm's ``patch_embed(image)``, with the layout's stem as its projection."""
        pe = self.encoder.patch_embed
        if self.stem is None:
            return pe(image)
        x = self.stem(image, layout)  # [B, D, h, w]
        if pe.flatten:
            x = x.flatten(2).transpose(1, 2)  # [B, h*w, D]
        elif pe.output_fmt != Format.NCHW:
            x = nchw_to(x, pe.output_fmt)  # [B, h, w, D]
        return pe.norm(x)

    def _embed(self, image: torch.Tensor, mask: torch.Tensor, layout: int = 0) -> torch.Tensor:
        x = self._patch_embed(image, layout)  # swin [B, h, w, D]; vit [B, h*w, D]
        if self.mask_token is not None:
            p = self.patch_size
            tokens = mask[:, ::p, ::p].to(x.dtype)  # [B, h, w]: SimMIM masks whole patches
            tokens = tokens.reshape(x.shape[0], *x.shape[1:-1], 1)
            x = x * (1 - tokens) + self.mask_token.to(x.dtype) * tokens
        return x

    def encode(self, image: torch.Tensor, mask: torch.Tensor, layout: int = 0) -> torch.Tensor:
        """Feature map ``[B, F, H/stride, W/stride]`` (timm's forward_features, mask inserted)."""
        enc = self.encoder
        x = self._embed(image, mask, layout)
        if self.family == "swin":
            x = enc.norm(enc.layers(x))  # [B, h', w', F]
            return x.permute(0, 3, 1, 2)
        x = enc.norm(enc.blocks(enc.norm_pre(enc.patch_drop(enc._pos_embed(x)))))  # [B, T+L, F]
        x = x[:, enc.num_prefix_tokens :]  # [B, L, F]
        side = image.shape[-1] // self.patch_size
        return x.transpose(1, 2).reshape(x.shape[0], -1, image.shape[-2] // self.patch_size, side)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, layout: int = 0) -> torch.Tensor:
        if self.zero_pixels:
            image = image * (1 - mask.unsqueeze(1).to(image.dtype))  # masked pixels -> 0
        decoder = self.decoder if self.decoders is None else self.decoders[f"l{layout}"]
        return decoder(self.encode(image, mask, layout))  # [B, C, H, W]

    def layout_kernel(self, layout: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight [D, C, p, p], bias [D])``: layout ``layout``'s patch projection as a plain conv."""
        if self.stem is None:
            proj = self.encoder.patch_embed.proj
            return proj.weight, proj.bias
        return self.stem.kernel(layout)


def stem_kind(layouts: tuple, embed: str = "auto") -> str | None:
    """The input stem a run uses: None (timm's own patch embedding) for one layout by default,
    else ``layout`` or ``wavelength`` (``training.stems``); ``auto`` mixes with ``MIXED_DEFAULT``."""
    if embed not in ("auto", "layout", "wavelength"):
        raise ValueError(f"unknown embedding {embed!r}: auto, layout or wavelength")
    if len(layouts) <= 1:
        return "wavelength" if embed == "wavelength" and layouts else None
    return MIXED_DEFAULT if embed == "auto" else embed


# (a) won issue 14's CPU comparison: same loss, 25% faster steps, and the only one whose
# RGB linear probe beat random init after 150 steps (see training.stems for both)
MIXED_DEFAULT = "layout"


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
