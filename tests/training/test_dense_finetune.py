"""Dense fine-tuning on tiny generated corpora: the model overfits a few tiles (mIoU / F1 rise
clearly), every encoder weight loads, results.json holds the field's metrics, evaluate works."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from training.finetune import FinetuneConfig, run
from training.models import build_encoder
from training.tasks.dense import build_dense_model, load_model, score
from training.tasks.dense_data import dense_dataset
from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.cli import main
from workflows.samples.dense import SEG_CLASSES, write_change_set, write_segmentation_set

SIZE = 64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads per process thrash (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _corpus(inputs, corpus: Path, **kw) -> Path:
    with mock.patch("workflows.report.write_report", lambda root, **_: "(report skipped: tested elsewhere)"):
        build(BuildConfig(inputs=(str(inputs),), corpus=str(corpus), scheduler="sync", tile_size=SIZE,
                          split=(0.5, 0.25, 0.25), seed=0, **kw), progress=False)
    return corpus


@pytest.fixture(scope="module")
def seg_corpus(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("segraw")
    write_segmentation_set(raw, count=6, size=SIZE, seed=0)
    return _corpus(raw / "img_dir", tmp_path_factory.mktemp("seg") / "c", task="segmentation",
                   masks=str(raw / "ann_dir"), classes=str(raw / "classes.txt"))


@pytest.fixture(scope="module")
def change_corpus(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("cdraw")
    write_change_set(raw, count=6, size=SIZE, seed=0)
    return _corpus(raw / "A", tmp_path_factory.mktemp("cd") / "c", task="change", pair=str(raw / "B"),
                   masks=str(raw / "label"))


def _config(corpus: Path, out: Path, task: str, model: str, **kw) -> FinetuneConfig:
    options = dict(data=str(corpus), out=str(out), task=task, model=model, init="random", mode="full",
                   epochs=25, batch_size=4, lr=2e-3, warmup_epochs=0.0, drop_path=0.0, train_split="train",
                   val_split="val", test_split="train", seed=0)
    return FinetuneConfig(**{**options, **kw})


def _untrained(cfg: FinetuneConfig, task: str, classes: int) -> np.ndarray:
    model, card, _ = build_dense_model(cfg, task, 3, classes)
    matrix, _ = score(model, dense_dataset(cfg.data, "train", card["img_size"], False), classes, 255, "cpu", 8)
    return matrix


def test_segmentation_overfits_a_few_tiles_and_writes_the_metrics(seg_corpus, tmp_path):
    from training.tasks.dense_metrics import segmentation_metrics

    cfg = _config(seg_corpus, tmp_path / "seg", "segmentation", "swin_nano")
    before = segmentation_metrics(_untrained(cfg, "segmentation", len(SEG_CLASSES)), SEG_CLASSES)["miou"]
    results = run(cfg)
    assert results["miou"] > before + 0.25 and results["miou"] > 0.45, (before, results["miou"])
    saved = json.loads((tmp_path / "seg" / "results.json").read_text())
    assert {"miou", "per_class_iou", "accuracy", "f1"} <= set(saved)
    assert set(saved["per_class_iou"]) == set(SEG_CLASSES) and set(saved["f1"]) == set(SEG_CLASSES)
    assert Path(saved["files"]["predictions_train"]).exists()
    assert main(["evaluate", "--classifier", str(tmp_path / "seg"), "--data", str(seg_corpus),
                 "--split", "train"]) == 0
    evaluated = json.loads((tmp_path / "seg" / "eval_results.json").read_text())
    assert evaluated["miou"] == pytest.approx(results["miou"])


def test_change_overfits_a_few_pairs(change_corpus, tmp_path):
    from training.tasks.dense_metrics import change_metrics

    cfg = _config(change_corpus, tmp_path / "cd", "change", "vit_nano")
    before = change_metrics(_untrained(cfg, "change", 2))["f1"]
    results = run(cfg)
    assert results["f1"] > before + 0.3 and results["f1"] > 0.5, (before, results["f1"])
    assert {"f1", "iou", "precision", "recall", "accuracy"} <= set(results)
    model, card = load_model(tmp_path / "cd")
    assert card["task"] == "change" and card["classes"] == ["no_change", "change"]


@pytest.mark.parametrize("name", ["swin_nano", "vit_nano"])
@pytest.mark.parametrize("task", ["segmentation", "change"])
def test_every_encoder_weight_is_loaded(name, task, tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(123)
    encoder = build_encoder(name, 3)
    path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(path))
    cfg = FinetuneConfig(data="-", out=str(tmp_path), task=task, model=name, checkpoint=str(path))
    model, _, report = build_dense_model(cfg, task, 3, 4)
    loaded = model.encoder.model.state_dict()
    expected = encoder.state_dict()
    compared = [k for k in expected if k in loaded and not k.startswith("head")]
    assert len(compared) == len([k for k in loaded if not k.startswith("head")])
    for key in compared:
        torch.testing.assert_close(loaded[key], expected[key], msg=key)
    assert report["source"] == "timm-state-dict"


def test_linear_mode_trains_the_decoder_over_a_frozen_encoder(seg_corpus, tmp_path):
    from safetensors.torch import load_file

    cfg = _config(seg_corpus, tmp_path / "frozen", "segmentation", "swin_nano", mode="linear", epochs=2)
    model, _, _ = build_dense_model(cfg, "segmentation", 3, len(SEG_CLASSES))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run(cfg)
    after = load_file(str(tmp_path / "frozen" / "model.safetensors"))
    encoder = [k for k in before if k.startswith("encoder.model.")]
    decoder = [k for k in before if k.startswith("decoder.") and before[k].is_floating_point()]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in decoder)
