"""Single-layout runs stay exactly as they were before mixed layouts: the same losses, bit for bit.

The reference losses were recorded on the code before mixed band layouts existed (fixed corpus,
seed and config, one thread, deterministic algorithms, the linear lr rule and the 32 px mask
patch those runs used).
"""

import pytest
import torch

from tests.training.corpus import make_corpus
from training.config import PretrainConfig
from training.metrics import read_jsonl
from training.pretrain import run

RECORDED = {
    "swin_nano": [0.9684230089187622, 0.9607478976249695, 0.957717776298523, 0.9532381892204285,
                  0.9616841673851013, 0.947661817073822],
    "vit_nano": [0.9481295347213745, 0.9520593285560608, 0.9482056498527527, 0.944145917892456,
                 0.9420503973960876, 0.9222723245620728],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("replay"), n=30, size=72, per_shard=7)


@pytest.mark.parametrize("model", sorted(RECORDED))
def test_single_layout_losses_are_unchanged(corpus, tmp_path, model):
    cfg = PretrainConfig(out=str(tmp_path / model), corpus=str(corpus), model=model, steps=6, batch_size=4,
                         base_lr=0.05, warmup_steps=2, num_workers=0, log_every=1, checkpoint_every=100,
                         image_every=0, progress=False, deterministic=True, shuffle_buffer=5, lr_floor=0.0,
                         mask_patch=32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the recording's thread count (sums depend on it)
    try:
        run(cfg)
    finally:
        torch.set_num_threads(threads)
    assert [r["loss"] for r in read_jsonl(tmp_path / model / "metrics.jsonl")] == RECORDED[model]
