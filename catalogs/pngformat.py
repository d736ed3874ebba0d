"""The PNG container facts the sample writer (``pipeline.encode``) and the loader's decoder
(``training.png``) share: one owner, so the two sides cannot drift apart."""

from __future__ import annotations

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel: grey, RGB, grey+alpha, RGBA
COLOUR_TYPE = {bands: colour for colour, bands in CHANNELS.items()}  # samples per pixel -> colour type
