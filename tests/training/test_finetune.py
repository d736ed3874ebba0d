"""Fine-tuning on a labeled corpus: metrics, linear probe, full fine-tune, evaluate, and the claim
that MIM pretraining beats a random init under the same linear probe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.evaluate import evaluate, metrics
from training.finetune import FinetuneConfig, config_from_args, run
from training.probe import fold_standardization
from workflows.downstream import build_labeled_corpus
from workflows.samples.labeled import write_labeled_set

CLASSES = ("farmland", "forest", "river", "dunes")


@pytest.fixture(scope="module")
def labeled_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labeled")
    write_labeled_set(root / "raw", classes=CLASSES, per_class=8, size=32, seed=0)
    build_labeled_corpus(root / "raw", root / "corpus")
    return root / "corpus"


def test_metrics_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    m = metrics(y_true, y_pred, ["a", "b", "c", "d"])
    assert m["top1"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == {"accuracy": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert m["per_class"]["d"]["accuracy"] is None  # no sample: left out of the macro F1
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["confusion"][0] == [2, 1, 0, 0] and np.sum(m["confusion"]) == 6


def test_folded_standardization_gives_the_same_logits():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10, 6, generator=gen) * 5 + 3
    mean, std = x.mean(0), x.std(0)
    head = torch.nn.Linear(6, 3)
    folded = fold_standardization(head, mean, std)
    with torch.no_grad():
        assert torch.allclose(folded(x), head((x - mean) / std), atol=1e-5)


def test_config_needs_exactly_one_init():
    with pytest.raises(ValueError, match="exactly one"):
        FinetuneConfig(data="d", out="o")
    with pytest.raises(ValueError, match="exactly one"):
        FinetuneConfig(data="d", out="o", checkpoint="x.pt", init="random")
    cfg = config_from_args(["--data", "d", "--out", "o", "--init", "random", "--mode", "full", "--epochs", "3",
                            "--mixup", "0.8"])
    assert (cfg.init, cfg.mode, cfg.epochs, cfg.mixup) == ("random", "full", 3, 0.8)


@pytest.mark.parametrize("mode", ["linear", "full"])
def test_finetune_writes_a_timm_classifier_that_evaluate_scores_identically(labeled_corpus, tmp_path, mode):
    extra = dict(mixup=0.5, cutmix=0.5, batch_size=8) if mode == "full" else {}
    cfg = FinetuneConfig(data=str(labeled_corpus), out=str(tmp_path / mode), model="vit_nano", mode=mode,
                         init="random", epochs=2, img_size=32, **extra)
    results = run(cfg)
    saved = json.loads((tmp_path / mode / "results.json").read_text())
    assert 0.0 <= saved["top1"] <= 1.0 and saved["scored_split"] == "test"
    assert set(saved["splits"]) == {"val", "test"} and saved["classes"] == sorted(CLASSES)
    assert (tmp_path / mode / "confusion_test.png").stat().st_size > 0
    if mode == "full":
        assert [r["epoch"] for r in saved["history"]] == [1, 2]
    again = evaluate(str(tmp_path / mode), str(labeled_corpus), ("test", "val"), str(tmp_path / "eval"))
    assert again["splits"]["test"]["confusion"] == results["splits"]["test"]["confusion"]
    assert again["top1"] == pytest.approx(results["top1"])


def test_stage_features_classifier_reloads_from_its_card(labeled_corpus, tmp_path):
    from safetensors.torch import load_file

    from training.probe import StageStatsClassifier
    from training.weights import CLASSIFIER_CARD, CLASSIFIER_WEIGHTS, create

    cfg = FinetuneConfig(data=str(labeled_corpus), out=str(tmp_path), model="vit_nano", init="random", epochs=2,
                         img_size=32, probe_features="stages")
    results = run(cfg)
    card = json.loads((tmp_path / CLASSIFIER_CARD).read_text())
    assert card["features"] == "stages" and card["feature_dim"] == results["probe"]["dim"] == 2 * 2 * 64
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in card["timm_kwargs"].items()}
    model = StageStatsClassifier.shell(create(card["timm_arch"], kwargs), card)
    model.load_state_dict(load_file(str(tmp_path / CLASSIFIER_WEIGHTS)))
    from training.evaluate import score_split

    again = score_split(model.eval(), str(labeled_corpus), "test", card["classes"], card["img_size"])
    assert again["confusion"] == results["splits"]["test"]["confusion"]
    with pytest.raises(ValueError, match="linear only"):
        FinetuneConfig(data="d", out="o", init="random", mode="full", probe_features="stages")


@pytest.mark.slow
def test_linear_probe_on_a_briefly_pretrained_encoder_beats_random_init(tmp_path):
    """Issue 5: 300 SimMIM steps (~25 s) on the 140 training images lift the stage-statistics probe
    by >= 0.10 top-1 over the same probe on a random init (measured: 0.66 vs 0.46 on test; seeds
    1 and 2 of pretraining and probe gave 0.70 vs 0.57 and 0.73 vs 0.40)."""
    from training.config import PretrainConfig
    from training.pretrain import run as pretrain
    from workflows.downstream import compare_inits

    write_labeled_set(tmp_path / "raw", per_class=40, size=64, seed=0)
    build_labeled_corpus(tmp_path / "raw", tmp_path / "corpus")
    pretrain(PretrainConfig(out=str(tmp_path / "mim"), corpus=str(tmp_path / "corpus"), splits=("train",),
                            model="swin_nano", mask="simmim", mask_patch=16, steps=300, batch_size=32,
                            base_lr=0.016, warmup_steps=30, num_workers=0, image_every=0, progress=False,
                            deterministic=True))
    figures = compare_inits(tmp_path / "corpus", tmp_path / "probe", tmp_path / "mim" / "checkpoints" / "last.pt",
                            "swin_nano", epochs=100, probe_features="stages")
    print(figures)
    assert figures["pretrained_top1"] >= figures["random_top1"] + 0.10
