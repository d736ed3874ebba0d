"""The fine-tuning loop the dense tasks share: parameter groups, epochs, confusion, pictures.

Two modes, as for classification: ``linear`` trains the decoder over a frozen encoder (what
the encoder's features alone support), ``full`` trains everything with RingMo / BEiT layer-wise
learning-rate decay on the encoder (timm's ``param_groups_layer_decay``: each group carries an
``lr_scale``) and the full rate on the decoder. The schedule is ``training.schedule``'s warmup +
cosine; each epoch's loss and validation score go to ``metrics.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from training.schedule import Schedule
from training.tasks.dense_metrics import confusion


def param_groups(model: nn.Module, mode: str, weight_decay: float, layer_decay: float) -> list[dict]:
    """Optimizer groups: decoder only (``linear``), or layer-decayed encoder + decoder (``full``)."""
    encoder = model.encoder.model
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.model.")]
    if mode == "linear":
        encoder.requires_grad_(False)
        return [{"params": rest, "weight_decay": weight_decay, "lr_scale": 1.0}]
    from timm.optim import param_groups_layer_decay

    groups = param_groups_layer_decay(encoder, weight_decay=weight_decay, layer_decay=layer_decay,
                                      no_weight_decay_list=getattr(encoder, "no_weight_decay", lambda: ())())
    return groups + [{"params": rest, "weight_decay": weight_decay, "lr_scale": 1.0}]


def _to(batch, device: str):
    if isinstance(batch, (tuple, list)):
        return tuple(t.to(device) for t in batch)
    return batch.to(device)


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed))


def train(model: nn.Module, groups: list[dict], train_set, *, epochs: int, batch_size: int, lr: float,
          warmup_epochs: float, seed: int, device: str, ignore_index: int, metrics_path: Path,
          validate=None, num_workers: int = 0) -> list[dict]:
    """Cross-entropy (ignore index) over ``epochs``; ``validate(model) -> dict`` after each."""
    loader = make_loader(train_set, batch_size, True, seed, num_workers)
    optimizer = torch.optim.AdamW(groups, lr=lr)
    total = epochs * len(loader)
    schedule = Schedule(lr, total, int(warmup_epochs * len(loader)), min_lr=lr * 0.01, warmup_start_lr=lr * 0.01)
    criterion = nn.CrossEntropyLoss(ignore_index=ignore_index)
    torch.manual_seed(seed + 1)
    step, history = 0, []
    with open(metrics_path, "w") as log_file:
        for epoch in range(epochs):
            train_set.set_epoch(epoch)
            model.train()
            if groups[0].get("lr_scale") == 1.0 and len(groups) == 1:
                model.encoder.model.eval()  # frozen encoder: norms and dropout as at inference
            losses = []
            for inputs, target in loader:
                rate = schedule.lr(step)
                for group in optimizer.param_groups:
                    group["lr"] = rate * group.get("lr_scale", 1.0)
                logits = model(_to(inputs, device))  # [B, K, H, W]
                loss = criterion(logits, target.to(device))  # target [B, H, W]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                step += 1
            record = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)), "lr": rate}
            if validate is not None:
                record.update(validate(model))
            log_file.write(json.dumps(record) + "\n")
            history.append(record)
    return history


@torch.no_grad()
def score(model: nn.Module, dataset, num_classes: int, ignore_index: int, device: str, batch_size: int,
          keep: int = 4) -> tuple[np.ndarray, list[tuple]]:
    """One ``[K, K]`` confusion matrix over the whole split, and ``keep`` (inputs, truth, pred)."""
    model.eval()
    matrix = np.zeros((num_classes, num_classes), np.int64)
    examples: list[tuple] = []
    for inputs, target in make_loader(dataset, batch_size, False):
        pred = model(_to(inputs, device)).argmax(1).cpu()  # [B, H, W]
        matrix += confusion(target.numpy(), pred.numpy(), num_classes, ignore_index)
        for i in range(min(len(target), keep - len(examples))):
            first = tuple(t[i] for t in inputs) if isinstance(inputs, (tuple, list)) else (inputs[i],)
            examples.append((first, target[i].numpy(), pred[i].numpy()))
    return matrix, examples
