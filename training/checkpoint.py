"""Atomic, safely loadable checkpoints of a run: everything needed to continue it exactly.

A checkpoint holds the model, optimizer and grad-scaler states, the optimizer step, the stream
position ``(epoch, batch)`` (the data order itself is recomputed from the seed), every rank's
torch RNG states (drop-path draws) and the resolved config. Only tensors and plain containers
are stored, so ``torch.load(weights_only=True)`` reads it. Writes go to a temp file that is
renamed over the target, so a run killed while saving keeps the previous checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch

from catalogs.store import atomic_output

LAST = "last.pt"


def rng_state() -> dict:
    """This process's torch RNG states (CPU and, when present, CUDA)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(payload: dict, path: str | Path) -> Path:
    """``torch.save`` to ``path`` through :func:`catalogs.store.atomic_output`, synced to disk (a
    failed save leaves neither a partial checkpoint nor its temp file behind)."""
    path = Path(path)
    with atomic_output(path, durable=True) as handle:
        torch.save(payload, handle)
    return path


def load(path: str | Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def latest(run_dir: str | Path) -> Path | None:
    """The checkpoint to resume from, if the run has one."""
    path = Path(run_dir) / "checkpoints" / LAST
    return path if path.exists() else None
