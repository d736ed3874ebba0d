"""The map-style base of every labeled dataset: fetch sample ``i``'s fragment, seed its draws.

Classification, segmentation/change and detection datasets differ in what they do with a
sample; what they share lives here once: the sample index, a fragment reader opened lazily once
per worker process (and never pickled into one), the epoch, and the per-item generator seeded by
``(seed, epoch, item)`` so reruns and any worker count see the same augmentations.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from training.data import Fetcher
from training.index import SampleIndex


class FetchedSamples(Dataset):
    """Samples of ``index``, fetched by position; subclasses decode and transform them."""

    def __init__(self, index: SampleIndex, seed: int = 0):
        self.index, self.seed = index, seed
        self.epoch = 0
        self._fetcher: Fetcher | None = None

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def fragment(self, i: int) -> bytes:
        """The tar fragment of sample ``i`` (its members with their headers)."""
        if self._fetcher is None:
            self._fetcher = Fetcher(self.index)
        return self._fetcher.fetch(np.array([i]))[0]

    def rng(self, i: int) -> np.random.Generator:
        """The generator of item ``i``'s random draws in this epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(i)])

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fetcher"] = None  # open file handles stay in their process
        return state
