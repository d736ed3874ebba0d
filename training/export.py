"""Export a pretrained encoder as a timm-compatible ``safetensors`` state dict with a model card.

The file loads into plain timm, without this project::

    model = timm.create_model(ARCH, pretrained=False, checkpoint_path="encoder.safetensors",
                              num_classes=0, **KWARGS)

where ARCH and KWARGS are written in ``model_card.json`` / ``README.md`` (the registered
CPU-sized models override depths and widths, so the kwargs matter). The card also records
the corpus manifest's sha256, the pretraining recipe and the number of steps, so the weights
can be traced to the data they saw. Export loads the file back into timm and checks it before
reporting success.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from catalogs.errors import UsageError
from catalogs.layout import MANIFEST
from catalogs.reporting import run_main
from catalogs.store import Store, write_atomic
from training.models import timm_kwargs
from training.weights import read_weights

WEIGHTS = "encoder.safetensors"
CARD_JSON = "model_card.json"
CARD_MD = "README.md"


def manifest_sha256(corpus: str | None) -> str | None:
    """sha256 of the corpus ``manifest.json`` bytes (None when the corpus is not reachable)."""
    if not corpus:
        return None
    try:
        return hashlib.sha256(Store(corpus).read_bytes(MANIFEST)).hexdigest()
    except (OSError, ValueError):
        return None


def _card(arch: str, kwargs: dict, weights, model: str) -> dict:
    recipe = json.loads(dict(weights.info).get("config", "{}"))
    corpus = recipe.get("corpus")
    layout = weights.layout() or {}
    return {
        "layout": layout.get("key"),
        "bands": layout.get("bands"),
        "dtype": layout.get("dtype"),
        "normalization": {"mean": layout["mean"], "std": layout["std"]} if layout else None,
        "wavelengths_nm": layout.get("wavelengths_nm"),
        "model": model,
        "timm_arch": arch,
        "timm_kwargs": kwargs,
        "source": weights.source,
        "steps": dict(weights.info).get("step"),
        "corpus": corpus,
        "corpus_manifest_sha256": manifest_sha256(corpus),
        "recipe": recipe,
        "load": f"timm.create_model({arch!r}, pretrained=False, checkpoint_path='{WEIGHTS}', "
                + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")",
    }


def _markdown(card: dict) -> str:
    recipe = card["recipe"]
    lines = [
        f"# {card['model']} encoder (RingMo-style MIM pretraining)",
        "",
        f"- timm architecture: `{card['timm_arch']}`",
        f"- pretraining steps: {card['steps']}",
        f"- corpus: `{card['corpus']}` (manifest sha256 `{card['corpus_manifest_sha256']}`)",
        f"- recipe: mask `{recipe.get('mask')}` (patch {recipe.get('mask_patch')}, ratio {recipe.get('mask_ratio')}), "
        f"batch {recipe.get('batch_size')} x accum {recipe.get('accum')}, base lr {recipe.get('base_lr')}, "
        f"input {card['timm_kwargs'].get('img_size')} px",
        "",
        "Load it with timm alone (no project code):",
        "",
        "```python",
        "import timm",
        f"model = {card['load']}",
        "features = model.forward_features(images)  # images standardized with the corpus band statistics",
        "```",
        "",
        "The input must be standardized per band with the corpus manifest's `stats` (not ImageNet's).",
    ]
    if card.get("normalization"):
        lines += [
            "",
            f"Band layout `{card['layout']}` ({card['bands']} bands, {card['dtype']}; centre wavelengths nm: "
            f"{card['wavelengths_nm']}). Standardize each band with:",
            "",
            f"- mean: {card['normalization']['mean']}",
            f"- std: {card['normalization']['std']}",
        ]
    return "\n".join(lines) + "\n"


def export_encoder(checkpoint_path: str | Path, out_dir: str | Path, model: str | None = None,
                   layout: str | None = None) -> dict:
    """Write ``encoder.safetensors``, ``model_card.json`` and ``README.md``; return the card.

    ``checkpoint_path`` is a pretraining checkpoint (its config names the model) or a timm
    state dict (then ``model`` is required). A mixed-layout run exports one band layout at a
    time (``layout``: its key, a unique part of it or its number; default: the visible/RGB one,
    else the most frequent): its patch embedding, for a wavelength-conditioned run generated
    from those bands' wavelengths, becomes the plain encoder's ``patch_embed.proj``, and its
    normalization statistics go into the card.
    """
    from safetensors.torch import save

    weights = read_weights(checkpoint_path, layout=layout)
    name = model or weights.model
    if name is None:
        raise UsageError(str(checkpoint_path), "does not record its model: give --model NAME")
    recipe = json.loads(dict(weights.info).get("config", "{}"))
    arch, kwargs = timm_kwargs(name, weights.in_chans(), recipe.get("img_size"))
    card = _card(arch, kwargs, weights, name)
    out_dir = Path(out_dir)
    state = {k: v.detach().contiguous().cpu() for k, v in weights.state.items()}
    write_atomic(out_dir / WEIGHTS, save(state, metadata={"ringmo_model": name, "timm_arch": arch,
                                                          "timm_kwargs": json.dumps(kwargs, default=list)}))
    verify(out_dir / WEIGHTS, arch, kwargs, state)
    write_atomic(out_dir / CARD_JSON, json.dumps(card, indent=2, sort_keys=True, default=list) + "\n")
    write_atomic(out_dir / CARD_MD, _markdown(card))
    return card


def verify(path: Path, arch: str, kwargs: dict, state: dict) -> None:
    """Load the file with plain ``timm.create_model(checkpoint_path=...)`` and compare tensors."""
    import timm

    loaded = timm.create_model(arch, pretrained=False, checkpoint_path=str(path), **kwargs).state_dict()
    for key, value in state.items():
        if key not in loaded or not torch.equal(loaded[key], value):
            raise RuntimeError(f"exported {path} does not load back into timm {arch} ({key})")


def build_parser(prog: str = "ringmo export") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Export a pretrained encoder for timm.")
    parser.add_argument("checkpoint", help="pretraining checkpoint (RUN/checkpoints/last.pt) or timm state dict")
    parser.add_argument("--out", required=True, help="directory for encoder.safetensors + model card")
    parser.add_argument("--model", help="registered model name (when the checkpoint does not record it)")
    parser.add_argument("--layout", help="band layout to export from a mixed-layout run: its key "
                                         "(sensor/bands/dtype), a unique part of it, or its number (default: RGB)")
    return parser


def main(argv: list[str] | None = None, prog: str = "ringmo export") -> int:
    args = build_parser(prog).parse_args(argv)
    card = export_encoder(args.checkpoint, args.out, args.model, args.layout)
    print(f"wrote {Path(args.out) / WEIGHTS}\nload with: {card['load']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))  # one-line errors, as `ringmo export` reports them
