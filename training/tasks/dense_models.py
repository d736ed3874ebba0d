"""Dense models: our timm encoder's multi-scale features into a feature pyramid decoder.

The encoder stays the plain timm model the pretraining checkpoint loads into
(``training.weights.load_encoder``, which refuses a half-loaded encoder); its multi-scale
features come from timm's ``forward_intermediates``: the four Swin stages (strides 4-32), or,
for a ViT (one stride), ViTDet's simple feature pyramid (deconvolutions x4 / x2, identity and
a max-pool over the last block's map). The decoder is torchvision's ``FeaturePyramidNetwork``
followed by the semantic-FPN merge (every level upsampled to the finest and summed) and a 1x1
classifier, upsampled to the input size.

Change detection uses the same encoder on both dates (shared weights, a siamese network) and
feeds the per-level absolute feature difference into the same decoder (FC-Siam-diff).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FeaturePyramidNetwork


class MultiScaleEncoder(nn.Module):
    """``forward(image [B,C,H,W]) -> [features [B, C_i, H/s_i, W/s_i]]``, finest first."""

    def __init__(self, model: nn.Module, family: str):
        super().__init__()
        self.model, self.family = model, family
        if family == "swin":
            self.channels = [int(info["num_chs"]) for info in model.feature_info]
            self.pyramid = None
        else:
            dim = int(model.embed_dim)
            self.pyramid = nn.ModuleList([
                nn.Sequential(nn.ConvTranspose2d(dim, dim // 2, 2, 2), nn.GELU(),
                              nn.ConvTranspose2d(dim // 2, dim // 4, 2, 2)),
                nn.ConvTranspose2d(dim, dim // 2, 2, 2),
                nn.Identity(),
                nn.MaxPool2d(2),
            ])
            self.channels = [dim // 4, dim // 2, dim, dim]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        if self.pyramid is None:
            return list(self.model.forward_intermediates(image, indices=len(self.channels),
                                                         intermediates_only=True))
        last = self.model.forward_intermediates(image, indices=1, intermediates_only=True)[-1]  # [B, D, h, w]
        return [level(last) for level in self.pyramid]


class FPNDecoder(nn.Module):
    """Feature pyramid + semantic-FPN merge -> class logits at the finest level's resolution."""

    def __init__(self, channels: list[int], num_classes: int, width: int = 64):
        super().__init__()
        self.fpn = FeaturePyramidNetwork(channels, width)
        self.fuse = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        self.classify = nn.Conv2d(width, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        levels = list(self.fpn({str(i): f for i, f in enumerate(features)}).values())  # [B, W, h_i, w_i]
        size = levels[0].shape[-2:]
        merged = levels[0]
        for level in levels[1:]:
            merged = merged + F.interpolate(level, size=size, mode="bilinear", align_corners=False)
        return self.classify(self.fuse(merged))  # [B, K, h_0, w_0]


class Segmenter(nn.Module):
    """Encoder + FPN decoder: ``forward(image) -> logits [B, K, H, W]``."""

    def __init__(self, encoder: MultiScaleEncoder, num_classes: int, width: int = 64):
        super().__init__()
        self.encoder = encoder
        self.decoder = FPNDecoder(encoder.channels, num_classes, width)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(self.encoder(image))
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)


class ChangeDetector(nn.Module):
    """Siamese encoder (shared weights), |A - B| per level, FPN decoder: ``forward((a, b))``."""

    def __init__(self, encoder: MultiScaleEncoder, num_classes: int = 2, width: int = 64):
        super().__init__()
        self.encoder = encoder
        self.decoder = FPNDecoder(encoder.channels, num_classes, width)

    def forward(self, pair) -> torch.Tensor:
        a, b = pair
        both = self.encoder(torch.cat([a, b]))  # one pass over both dates: [2B, C_i, h_i, w_i]
        diffs = [torch.abs(f[: a.shape[0]] - f[a.shape[0]:]) for f in both]
        logits = self.decoder(diffs)
        return F.interpolate(logits, size=a.shape[-2:], mode="bilinear", align_corners=False)


MODELS = {"segmentation": Segmenter, "change": ChangeDetector}


def dense_model(task: str, timm_model: nn.Module, family: str, num_classes: int) -> nn.Module:
    """The task's model around an already weight-loaded timm encoder."""
    return MODELS[task](MultiScaleEncoder(timm_model, family), num_classes)
