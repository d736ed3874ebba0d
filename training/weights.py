"""Encoder weights in and out of timm models: pretraining checkpoints, timm state dicts, resizing.

A fine-tune starts from one of three sources: a pretraining checkpoint of ``training.pretrain``
(its ``model`` holds ``encoder.*`` next to the decoder and mask token), an exported or any
timm-compatible state dict (``.safetensors``, ``.pt``/``.pth``), or nothing (random init, the
baseline). Weights pass through the timm architecture's own ``checkpoint_filter_fn``, which
resizes what depends on the input: Swin relative-position tables when the window changes
(RingMo pretrains at 192 px with window 6 and fine-tunes at 224 with window 7), ViT position
embeddings when the patch grid changes, patch-embedding kernels when the patch size changes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from catalogs.errors import CheckpointError, InputError, RingmoError
from catalogs.store import write_atomic
from training import checkpoint
from training.layouts import RunLayout, find_layout
from training.models import model_spec, stem_kind
from training.probe import StageStatsClassifier
from training.stems import make_stem

_HEAD_PREFIXES = ("head.", "fc_norm.")


@dataclass(frozen=True)
class EncoderWeights:
    """A timm-compatible encoder state dict and what is known of where it came from."""

    state: dict  # name -> tensor, no classifier head
    source: str  # pretrain-checkpoint | timm-state-dict | random
    model: str | None = None  # registered model name when the source records it
    info: tuple[tuple[str, object], ...] = ()

    def layout(self) -> dict | None:
        """The pretraining band layout these weights embed (``RunLayout.to_dict``), when recorded."""
        return dict(self.info).get("layout")

    def in_chans(self) -> int | None:
        weight = self.state.get("patch_embed.proj.weight")
        return None if weight is None else int(weight.shape[1])


def read_weights(path: str | Path, layout: str | None = None, bands: int | None = None) -> EncoderWeights:
    """Encoder weights from a pretraining checkpoint or a timm-compatible state dict file.

    A checkpoint of a mixed-layout run has one input per band layout: ``layout`` names the one
    to write into ``patch_embed.proj`` (its key, a unique part of it, or its number); without
    it the layout of ``bands`` bands, preferring one in the visible spectrum (RGB data gets the
    RGB input), or the run's only layout.

    A file that is none of those is a :class:`CheckpointError` naming it (never a pickle or
    safetensors traceback): the usual mistake is passing the wrong file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(str(path), "no such checkpoint file" if not path.exists() else "not a file")
    try:
        weights = _read_weights(path, layout, bands)
    except RingmoError:
        raise
    except Exception as error:  # noqa: BLE001 - torch.load of a wrong file raises many kinds
        raise CheckpointError(str(path), "not a checkpoint: neither a `ringmo pretrain` checkpoint nor a timm "
                              f"state dict (.pt/.pth/.safetensors) ({type(error).__name__})") from None
    if not weights.state:
        raise CheckpointError(str(path), "holds no encoder tensors: neither a `ringmo pretrain` checkpoint nor a "
                              "timm state dict")
    return weights


def _read_weights(path: Path, layout: str | None, bands: int | None) -> EncoderWeights:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}
        return EncoderWeights(_drop_head(state), "timm-state-dict", meta.get("ringmo_model"))
    saved = checkpoint.load(path)
    if isinstance(saved, dict) and "model" in saved and isinstance(saved.get("config"), dict):
        encoder = {k[len("encoder."):]: v for k, v in saved["model"].items() if k.startswith("encoder.")}
        if encoder:
            info = (("step", int(saved.get("step", 0))), ("config", json.dumps(saved["config"], sort_keys=True)))
            layouts = tuple(RunLayout.from_dict(d) for d in saved.get("layouts") or ())
            if layouts:
                chosen = find_layout(layouts, layout, bands)
                encoder.update(_materialized(saved, layouts, chosen))
                info += (("layout", layouts[chosen].to_dict()),)
            return EncoderWeights(encoder, "pretrain-checkpoint", saved["config"].get("model"), info)
    for key in ("state_dict", "model"):
        if isinstance(saved, dict) and isinstance(saved.get(key), dict):
            saved = saved[key]
    state = {k.removeprefix("module.").removeprefix("encoder."): v for k, v in saved.items()
             if isinstance(v, torch.Tensor)}
    return EncoderWeights(_drop_head(state), "timm-state-dict")


def _materialized(saved: dict, layouts: tuple, chosen: int) -> dict:
    """``patch_embed.proj.{weight,bias}`` of layout ``chosen`` (empty when the encoder has its own)."""
    state = saved["model"]
    stem = {k[len("stem."):]: v for k, v in state.items() if k.startswith("stem.")}
    if not stem:
        return {}
    cfg = saved["config"]
    kind = stem_kind(layouts, cfg.get("embed", "auto"))
    width = int(stem["bias"].shape[0]) if "bias" in stem else int(stem[f"proj.l{chosen}.weight"].shape[0])
    module = make_stem(kind, layouts, width, model_spec(cfg["model"]).patch_size)
    module.load_state_dict(stem)
    with torch.no_grad():
        weight, bias = module.kernel(chosen)
    return {"patch_embed.proj.weight": weight.detach().clone().contiguous(),
            "patch_embed.proj.bias": bias.detach().clone().contiguous()}


def _drop_head(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES)}


def classifier_kwargs(name: str, in_chans: int, num_classes: int, img_size: int | None = None,
                      window_size: int | None = None, drop_path: float = 0.0) -> tuple[str, dict]:
    """``(timm architecture, kwargs)`` of the registered encoder with a ``num_classes`` head.

    ViTs pool the patch tokens (``global_pool="avg"``, SimMIM's probe) and keep their final
    norm where pretraining had it (``fc_norm=False``), so encoder weights load unchanged.
    """
    spec = model_spec(name)
    kwargs = dict(spec.overrides)
    kwargs.update(img_size=img_size or spec.img_size, in_chans=in_chans, num_classes=num_classes)
    if drop_path:
        kwargs["drop_path_rate"] = drop_path
    if spec.family == "swin" and window_size:
        kwargs["window_size"] = window_size
    if spec.family == "vit":
        kwargs.update(global_pool="avg", fc_norm=False)
    return spec.timm_name, kwargs


def create(arch: str, kwargs: dict) -> nn.Module:
    return timm.create_model(arch, pretrained=False, **kwargs)


def load_encoder(model: nn.Module, weights: EncoderWeights) -> dict:
    """Load ``weights`` into a timm ``model`` (resized by timm's filter); returns what was skipped.

    Raises when an encoder parameter of the model gets no weight: a silently half-random
    encoder would make "pretrained vs random" meaningless.
    """
    module = sys.modules[type(model).__module__]
    state = dict(weights.state)
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if filter_fn is not None:
        state = filter_fn(state, model)
    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES) or
             (k in own and own[k].shape == v.shape)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(_HEAD_PREFIXES)]
    if missing:
        raise ValueError(f"the weights lack {len(missing)} encoder tensor(s) of the model, e.g. {missing[:3]}")
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}


CLASSIFIER_WEIGHTS = "classifier.safetensors"
CLASSIFIER_CARD = "classifier.json"


def save_classifier(model: nn.Module, arch: str, kwargs: dict, card: dict, out_dir: str | Path) -> Path:
    """A plain timm classifier: ``classifier.safetensors`` + ``classifier.json`` (how to build it)."""
    from safetensors.torch import save

    out_dir = Path(out_dir)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    write_atomic(out_dir / CLASSIFIER_WEIGHTS, save(state, metadata={"timm_arch": arch}))
    record = {**card, "timm_arch": arch, "timm_kwargs": kwargs}
    write_atomic(out_dir / CLASSIFIER_CARD, json.dumps(record, indent=2, sort_keys=True, default=list) + "\n")
    return out_dir / CLASSIFIER_WEIGHTS


def load_classifier(out_dir: str | Path) -> tuple[nn.Module, dict]:
    """The classifier saved by ``save_classifier`` (eval mode) and its card."""
    from safetensors.torch import load_file

    out_dir = Path(out_dir)
    try:
        card = json.loads((out_dir / CLASSIFIER_CARD).read_text())
    except FileNotFoundError:
        raise InputError(str(out_dir), f"not a classifier: no {CLASSIFIER_CARD} (give a `ringmo finetune --out` "
                         "directory)") from None
    except ValueError as error:
        raise InputError(str(out_dir / CLASSIFIER_CARD), f"not valid JSON ({error})") from None
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in card["timm_kwargs"].items()}
    kwargs.pop("drop_path_rate", None)  # inference only
    model = create(card["timm_arch"], kwargs)
    if card.get("features") == "stages":  # linear probe on stage statistics (training.probe)
        model = StageStatsClassifier.shell(model, card)
    model.load_state_dict(load_file(str(out_dir / CLASSIFIER_WEIGHTS)))
    return model.eval(), card
