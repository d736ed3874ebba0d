"""``ringmo finetune --task segmentation|change`` and ``ringmo evaluate`` of the result.

The encoder is built and loaded exactly as for classification (``training.weights``: a
pretraining checkpoint, a timm state dict, or ``--init random``; a missing encoder tensor is an
error), wrapped by the task's model (``training.tasks.dense_models``), trained by the shared
loop (``training.tasks.loop``) and scored on the val and test splits. Outputs under ``--out``:
``model.safetensors`` + ``model.json`` (how to rebuild it), ``results.json`` (the task's
headline figures of the test split at the top level, every scored split under ``splits``),
``metrics.jsonl`` and ``predictions_{split}.png`` (image / truth / prediction rows).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from training.models import model_spec
from training.tasks import change, segmentation
from training.tasks.dense_data import dense_corpus, dense_dataset, dense_rows, has_split, DenseSamples
from training.tasks.dense_models import dense_model
from training.tasks.dense_metrics import confusion
from training.tasks.loop import LoopConfig, train
from training.visualize import display
from training.weights import EncoderWeights, classifier_kwargs, create, load_encoder, read_weights

TASKS = {"segmentation": segmentation, "change": change}
MODEL_WEIGHTS, MODEL_CARD = "model.safetensors", "model.json"
DEFAULT_LR = {"linear": 1e-3, "full": 1e-4}


def param_groups(model: nn.Module, mode: str, weight_decay: float, layer_decay: float) -> list[dict]:
    """Decoder only over a frozen encoder (``linear``), or layer-decayed encoder + decoder (``full``).

    ``full`` follows RingMo / BEiT: timm's ``param_groups_layer_decay`` gives each encoder depth
    its ``lr_scale`` (``layer_decay`` per layer from the top), as classification fine-tuning does.
    """
    encoder = model.encoder.model
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.model.")]
    if mode == "linear":
        encoder.requires_grad_(False)
        return [{"params": rest, "weight_decay": weight_decay, "lr_scale": 1.0}]
    from timm.optim import param_groups_layer_decay

    groups = param_groups_layer_decay(encoder, weight_decay=weight_decay, layer_decay=layer_decay,
                                      no_weight_decay_list=getattr(encoder, "no_weight_decay", lambda: ())())
    return groups + [{"params": rest, "weight_decay": weight_decay, "lr_scale": 1.0}]


def _to(inputs, device: str):
    if isinstance(inputs, (tuple, list)):
        return tuple(t.to(device) for t in inputs)
    return inputs.to(device)


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed))


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


def _weights(cfg, in_chans: int | None = None) -> EncoderWeights:
    if cfg.init == "random":
        return EncoderWeights({}, "random", cfg.model)
    weights = read_weights(cfg.checkpoint, getattr(cfg, "layout", None), in_chans)  # a mixed run: this band set
    if weights.model and weights.model != cfg.model:
        raise ValueError(f"{cfg.checkpoint} holds a {weights.model} encoder, not {cfg.model}")
    return weights


def build_dense_model(cfg, task: str, in_chans: int, num_classes: int) -> tuple[nn.Module, dict, dict]:
    """``(model, card, load report)``: the timm encoder with its weights, inside the task model."""
    drop_path = cfg.drop_path if cfg.mode == "full" else 0.0
    arch, kwargs = classifier_kwargs(cfg.model, in_chans, 0, cfg.img_size, cfg.window_size, drop_path)
    torch.manual_seed(cfg.seed)
    encoder = create(arch, kwargs)
    weights = _weights(cfg, in_chans)
    report = {"source": weights.source, **dict(weights.info)}
    if weights.state:
        if weights.in_chans() not in (None, in_chans):
            raise ValueError(f"the weights take {weights.in_chans()} bands, the data has {in_chans}")
        report.update(load_encoder(encoder, weights))
    family = model_spec(cfg.model).family
    card = {"task": task, "model": cfg.model, "family": family, "timm_arch": arch, "timm_kwargs": kwargs,
            "num_classes": num_classes, "img_size": kwargs["img_size"], "in_chans": in_chans}
    return dense_model(task, encoder, family, num_classes), card, report


def save_model(model: nn.Module, card: dict, out: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out / MODEL_WEIGHTS), metadata={"task": card["task"]})
    (out / MODEL_CARD).write_text(json.dumps(card, indent=2, sort_keys=True, default=list) + "\n")


def load_model(out: str | Path) -> tuple[nn.Module, dict]:
    """The model saved by ``ringmo finetune --task ...`` (eval mode) and its card."""
    from safetensors.torch import load_file

    out = Path(out)
    card = json.loads((out / MODEL_CARD).read_text())
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in card["timm_kwargs"].items()}
    kwargs.pop("drop_path_rate", None)
    model = dense_model(card["task"], create(card["timm_arch"], kwargs), card["family"], card["num_classes"])
    model.load_state_dict(load_file(str(out / MODEL_WEIGHTS)))
    return model.eval(), card


def _palette(num_classes: int) -> np.ndarray:
    """Distinct colours per class index; index 255 (ignore) black."""
    import matplotlib

    colours = np.zeros((256, 3), np.uint8)
    cmap = matplotlib.colormaps["tab20"]
    for i in range(min(num_classes, 255)):
        colours[i] = (np.array(cmap(i % 20)[:3]) * 255).astype(np.uint8)
    return colours


def save_predictions(examples: list[tuple], num_classes: int, path: Path, min_side: int = 128) -> Path:
    """One row per sample: image (and second date) | truth | prediction, as a PNG."""
    palette = _palette(num_classes)
    rows = [np.concatenate([display(t.float().numpy()) for t in inputs] + [palette[truth], palette[pred]], axis=1)
            for inputs, truth, pred in examples]
    picture = Image.fromarray(np.concatenate(rows, axis=0))
    factor = max(1, min_side // max(1, examples[0][1].shape[0]))
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    picture.save(path, format="PNG")
    return path


def score_splits(model, corpus: str, splits, task: str, classes, img_size: int, ignore: int, device: str,
                 batch_size: int, out: Path, prefix: str = "") -> tuple[dict, dict]:
    """``({split: scores}, {file key: path})`` with one prediction PNG per split."""
    module, scored, files = TASKS[task], {}, {}
    for split in dict.fromkeys(splits):
        if not has_split(corpus, split):
            continue
        matrix, examples = score(model, dense_dataset(corpus, split, img_size, False), len(classes), ignore,
                                 device, batch_size)
        scored[split] = module.scores(matrix, classes)
        png = save_predictions(examples, len(classes), out / f"{prefix}predictions_{split}.png")
        files[f"predictions_{split}"] = str(png)
    return scored, files


def _headline(task: str, scored: dict, split: str) -> dict:
    first = scored.get(split) or next(iter(scored.values()), None)
    return {key: (first[key] if first else None) for key in TASKS[task].HEADLINE}


def run_dense(cfg) -> dict:
    """Fine-tune ``cfg.task`` on a dense corpus and score it; returns what ``results.json`` holds."""
    started = time.perf_counter()
    corpus = dense_corpus(cfg.data)
    if corpus.task != cfg.task:
        raise ValueError(f"{cfg.data} holds {corpus.task} samples, not {cfg.task}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=True))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    first = DenseSamples(dense_rows(cfg.data, cfg.train_split), None, 0, False).raw(0)
    model, card, report = build_dense_model(cfg, cfg.task, first["image"].shape[2], len(corpus.classes))
    model = model.to(device)
    img_size = card["img_size"]
    train_set = dense_dataset(cfg.data, cfg.train_split, img_size, True, cfg.seed)
    module = TASKS[cfg.task]
    val_set = dense_dataset(cfg.data, cfg.val_split, img_size, False) if has_split(cfg.data, cfg.val_split) else None

    def validate(epoch: int) -> dict:
        matrix, _ = score(model, val_set, len(corpus.classes), corpus.ignore_index, device, cfg.batch_size, 0)
        return {f"val_{k}": module.scores(matrix, corpus.classes)[k] for k in module.SUMMARY}
    criterion = nn.CrossEntropyLoss(ignore_index=corpus.ignore_index)

    def loss_of(m: nn.Module, batch) -> dict:
        inputs, target = batch
        return {"ce": criterion(m(_to(inputs, device)), target.to(device))}  # logits [B, K, H, W]
    loader = make_loader(train_set, cfg.batch_size, True, cfg.seed, cfg.num_workers)
    loop = LoopConfig(epochs=cfg.epochs, lr=cfg.lr or DEFAULT_LR[cfg.mode], weight_decay=cfg.weight_decay,
                      warmup_steps=int(cfg.warmup_epochs * len(loader)), seed=cfg.seed)
    history = train(model, loader, loss_of, loop, out, device, validate if val_set is not None else None,
                    groups=param_groups(model, cfg.mode, cfg.weight_decay, cfg.layer_decay))
    card.update(classes=list(corpus.classes), ignore_index=corpus.ignore_index, mode=cfg.mode, init=report,
                data=cfg.data)
    save_model(model, card, out)
    scored, files = score_splits(model, cfg.data, (cfg.val_split, cfg.test_split), cfg.task, corpus.classes,
                                 img_size, corpus.ignore_index, device, cfg.batch_size, out)
    results = {"task": cfg.task, "config": dataclasses.asdict(cfg), "classes": list(corpus.classes), "init": report,
               **_headline(cfg.task, scored, cfg.test_split),
               "scored_split": cfg.test_split if cfg.test_split in scored else next(iter(scored), None),
               "splits": scored, "history": history, "seconds": round(time.perf_counter() - started, 1)}
    return _write(results, files, out, "")


def _write(results: dict, files: dict, out: Path, prefix: str) -> dict:
    target = out / f"{prefix}results.json"
    results["files"] = files
    target.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    results["paths"] = {**files, "results": str(target)}
    return results


def evaluate_dense(model_dir: str, corpus: str, splits=("test",), out: str | None = None,
                   batch_size: int = 16) -> dict:
    """``ringmo evaluate`` of a dense model: ``eval_results.json`` + prediction PNGs."""
    model, card = load_model(model_dir)
    found = dense_corpus(corpus)
    if found.task != card["task"]:
        raise ValueError(f"{corpus} holds {found.task} samples; {model_dir} is a {card['task']} model")
    target = Path(out or model_dir)
    target.mkdir(parents=True, exist_ok=True)
    scored, files = score_splits(model, corpus, splits, card["task"], card["classes"], card["img_size"],
                                 card.get("ignore_index", 255), "cpu", batch_size, target, prefix="eval_")
    if not scored:
        raise ValueError(f"{corpus}: none of the splits {list(splits)} has samples")
    results = {"task": card["task"], "model": str(model_dir), "data": str(corpus), "classes": card["classes"],
               **_headline(card["task"], scored, splits[0]), "splits": scored}
    return _write(results, files, target, "eval_")
