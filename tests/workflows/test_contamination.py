"""``ringmo leaks``: near-duplicates between a pretraining corpus and a downstream set, and the
audit ``ringmo finetune`` runs when the checkpoint's corpus is reachable."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from unittest import mock

import cv2
import pytest
import torch

from training.models import build_encoder
from workflows.build import build
from workflows.build_config import BuildConfig
from workflows.cli import main
from workflows.samples.dense import write_segmentation_set

SIZE = 64


def _build(inputs: Path, corpus: Path, **kw) -> Path:
    with mock.patch("workflows.report.write_report", lambda root, **_: "(report skipped: tested elsewhere)"):
        build(BuildConfig(inputs=(str(inputs),), corpus=str(corpus), scheduler="sync", tile_size=SIZE,
                          split=(0.5, 0.25, 0.25), seed=0, **kw), progress=False)
    return corpus


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """A downstream segmentation set, and a pretraining corpus holding JPEG copies of two of its
    test images among unrelated ones."""
    root = tmp_path_factory.mktemp("leaks")
    write_segmentation_set(root / "down", count=6, size=SIZE, seed=0)
    labeled = _build(root / "down" / "img_dir", root / "labeled", task="segmentation",
                     masks=str(root / "down" / "ann_dir"))
    import pyarrow.parquet as pq

    rows = pq.read_table(labeled / "catalog" / "tiles.parquet", columns=["uri", "split"]).to_pylist()
    test_uris = sorted(r["uri"] for r in rows if r["split"] == "test")
    pre = root / "pre"
    write_segmentation_set(root / "other", count=4, size=SIZE, seed=9)
    shutil.copytree(root / "other" / "img_dir", pre)
    for uri in test_uris[:2]:
        image = cv2.imread(uri)
        cv2.imwrite(str(pre / f"copy_{Path(uri).stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    clean = _build(root / "other" / "img_dir", root / "clean")
    return _build(pre, root / "corpus"), clean, labeled, test_uris[:2]


def test_leaks_finds_the_copied_test_images(corpora, tmp_path):
    corpus, clean, labeled, copied = corpora
    assert main(["leaks", str(corpus), "--against", str(labeled), "--split", "test", "--out", str(tmp_path)]) == 1
    report = json.loads((tmp_path / "contamination.json").read_text())
    assert report["by_split"] == {"test": len(copied)}
    assert sorted(e["against_uri"] for e in report["examples"]) == copied
    assert (tmp_path / "contamination.png").exists()
    assert main(["leaks", str(clean), "--against", str(labeled), "--out", str(tmp_path / "c")]) == 0


def test_finetune_audits_the_checkpoints_corpus_and_warns(corpora, tmp_path, caplog):
    corpus, _, labeled, copied = corpora
    encoder = build_encoder("swin_nano", 3)
    checkpoint = tmp_path / "last.pt"
    torch.save({"model": {f"encoder.{k}": v for k, v in encoder.state_dict().items()}, "step": 1,
                "config": {"corpus": str(corpus), "model": "swin_nano"}}, checkpoint)
    out = tmp_path / "ft"
    torch.set_num_threads(1)
    with caplog.at_level(logging.WARNING, logger="ringmo.leaks"):
        assert main(["finetune", "--task", "segmentation", "--data", str(labeled), "--model", "swin_nano",
                     "--checkpoint", str(checkpoint), "--epochs", "1", "--batch-size", "4",
                     "--out", str(out)]) == 0
    assert json.loads((out / "contamination.json").read_text())["by_split"]["test"] == len(copied)
    assert any("score is inflated" in r.message for r in caplog.records)
    assert "miou" in json.loads((out / "results.json").read_text())
