"""Inputs of a mixed-layout encoder: the patch embedding of each band layout, one shared trunk.

Two ways to turn a layout's bands into the trunk's tokens, compared in the issue 14 note:

* ``layout`` — one ``Conv2d(bands, width, patch, patch)`` per layout (what timm's own
  ``patch_embed.proj`` is for one layout). A new layout needs new parameters.
* ``wavelength`` — DOFA/Clay style: a small network turns each band's centre wavelength (and
  native GSD when known) into that band's ``[width, patch, patch]`` kernel, so any band set,
  including a sensor never seen, gets an embedding from the same parameters. A layout that
  cannot be placed in the spectrum (``RunLayout.wavelengths_nm is None``, e.g. unnamed
  1-band float32) falls back to a learned kernel of its own, as in ``layout``.

Either way ``kernel(i)`` is a plain conv weight, so export writes layout ``i``'s embedding
into an unmodified timm encoder (``patch_embed.proj``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

EMBEDS = ("layout", "wavelength")
_FREQS = 8  # Fourier frequencies of log-wavelength


def _conv(bands: int, width: int, patch: int) -> nn.Conv2d:
    """A layout's own patch projection, initialized as timm's (``nn.Conv2d`` defaults)."""
    return nn.Conv2d(bands, width, kernel_size=patch, stride=patch)


def band_features(wavelengths_nm, gsd_m=None) -> torch.Tensor:
    """``[C, 2*_FREQS + 2]``: Fourier features of ln(wavelength in um), ln(GSD) and whether it is known.

    Log-wavelength spaces visible/NIR/SWIR bands by their spectral ratios and keeps radar
    (centimetres) far away from all of them on the same axis.
    """
    x = torch.log(torch.tensor(wavelengths_nm, dtype=torch.float64) / 1000.0)[:, None]  # [C, 1]
    freqs = math.pi * 2.0 ** (torch.arange(_FREQS, dtype=torch.float64) - 3)  # [F]
    if gsd_m is None or len(gsd_m) != len(wavelengths_nm):
        gsd_m = [None] * len(wavelengths_nm)
    gsd = [g if g else 0.0 for g in gsd_m]
    known = torch.tensor([1.0 if g else 0.0 for g in gsd], dtype=torch.float64)[:, None]
    log_gsd = torch.log(torch.tensor([g or 1.0 for g in gsd], dtype=torch.float64))[:, None] * known
    return torch.cat([torch.sin(x * freqs), torch.cos(x * freqs), log_gsd / 5.0, known], dim=1).float()


class LayoutStem(nn.Module):
    """One learned patch projection per layout."""

    def __init__(self, layouts, width: int, patch: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.ModuleDict({f"l{i}": _conv(l.bands, width, patch) for i, l in enumerate(layouts)})

    def kernel(self, layout: int) -> tuple[torch.Tensor, torch.Tensor]:
        conv = self.proj[f"l{layout}"]
        return conv.weight, conv.bias

    def forward(self, image: torch.Tensor, layout: int) -> torch.Tensor:
        return self.proj[f"l{layout}"](image)  # [B, D, H/p, W/p]


class WavelengthStem(nn.Module):
    """Patch kernels generated per band from its wavelength (see module docstring)."""

    def __init__(self, layouts, width: int, patch: int, hidden: int = 128):
        super().__init__()
        self.width, self.patch = width, patch
        self.generator = nn.Sequential(nn.Linear(2 * _FREQS + 2, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                       nn.GELU(), nn.Linear(hidden, width * patch * patch))
        nn.init.trunc_normal_(self.generator[-1].weight, std=0.02)
        nn.init.zeros_(self.generator[-1].bias)
        self.bias = nn.Parameter(torch.zeros(width))
        self.own = nn.ModuleDict({f"l{i}": _conv(l.bands, width, patch)
                                  for i, l in enumerate(layouts) if l.wavelengths_nm is None})
        for i, l in enumerate(layouts):
            if l.wavelengths_nm is not None:
                self.register_buffer(f"features_l{i}", band_features(l.wavelengths_nm, l.gsd_m), persistent=False)

    def kernel(self, layout: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight [D, C, p, p], bias [D])`` of layout ``layout``."""
        if f"l{layout}" in self.own:
            conv = self.own[f"l{layout}"]
            return conv.weight, conv.bias
        features = getattr(self, f"features_l{layout}")  # [C, 2F+2]
        bands = features.shape[0]
        weight = self.generator(features).reshape(bands, self.width, self.patch, self.patch)  # [C, D, p, p]
        return weight.transpose(0, 1) * math.sqrt(3.0 / bands), self.bias  # band-count invariant scale

    def forward(self, image: torch.Tensor, layout: int) -> torch.Tensor:
        weight, bias = self.kernel(layout)
        return F.conv2d(image, weight.to(image.dtype), bias.to(image.dtype), stride=self.patch)  # [B, D, h, w]


def make_stem(kind: str, layouts, width: int, patch: int) -> nn.Module:
    if kind not in EMBEDS:
        raise ValueError(f"unknown embedding {kind!r}; choose one of {EMBEDS}")
    return (LayoutStem if kind == "layout" else WavelengthStem)(layouts, width, patch)
