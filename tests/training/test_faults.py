"""Fault tolerance of the trainer: broken samples, non-finite losses, checkpoint safety."""

import json
import logging
import pickle
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import training.pretrain as pretrain
from tests.training.corpus import encode, make_corpus, synthetic_tile, write_shard
from training import checkpoint
from training.config import PretrainConfig
from training.data import MimStream, SampleSpec, make_loader, open_source
from training.distributed import DistInfo
from training.masking import MaskConfig
from training.metrics import read_jsonl
from training.plan import StreamConfig
from training.transforms import AugmentConfig


def _member(shard: Path, name: str) -> tuple[int, int]:
    """``(payload offset, payload size)`` of a tar member."""
    with tarfile.open(shard) as tar:
        info = tar.getmember(name)
        return info.offset_data, info.size


def _garble(shard: Path, name: str, seed: int = 0) -> None:
    """Overwrite a member's payload with garbage of the same length (offsets stay valid)."""
    start, size = _member(shard, name)
    data = bytearray(shard.read_bytes())
    data[start : start + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    shard.write_bytes(bytes(data))


def _keys(shard: Path) -> list[str]:
    with tarfile.open(shard) as tar:
        return [n.rsplit(".", 1)[0] for n in tar.getnames() if n.endswith(".json")]


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """16 samples in 2 shards; one with a garbage PNG, one with garbage JSON."""
    root = make_corpus(tmp_path_factory.mktemp("broken"), n=16, size=64, per_shard=8)
    shard = root / "shards" / "train-000000.tar"
    keys = _keys(shard)
    _garble(shard, f"{keys[2]}.png", seed=1)
    _garble(shard, f"{keys[5]}.json", seed=2)
    return root, shard, (keys[2], keys[5])


def _cfg(corpus, out, **kw) -> PretrainConfig:
    base = dict(out=str(out), corpus=str(corpus), model="vit_nano", steps=4, batch_size=4, base_lr=0.05,
                warmup_steps=1, num_workers=0, log_every=1, checkpoint_every=2, image_every=0,
                progress=False, deterministic=True, shuffle_buffer=4)
    base.update(kw)
    return PretrainConfig(**base)


def _stable(run_dir) -> list[tuple]:
    return [(r["step"], r["loss"], r["skipped"], r["bad_steps"]) for r in read_jsonl(Path(run_dir) / "metrics.jsonl")]


def test_broken_samples_are_skipped_counted_and_resume_exactly(broken, tmp_path, caplog):
    root, shard, bad_keys = broken
    caplog.set_level(logging.WARNING, logger="training.data")
    whole = _cfg(root, tmp_path / "whole")
    assert pretrain.run(whole)["steps"] == 4  # one epoch: every sample, the broken ones too
    records = read_jsonl(tmp_path / "whole" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["skipped"] == 2 and all(r["loss"] is not None for r in records)
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert all(f"{shard}#{key}" in warned for key in bad_keys)
    stopped = replace(whole, out=str(tmp_path / "resumed"), stop_after=3)
    pretrain.run(stopped)
    pretrain.run(replace(stopped, stop_after=None))
    assert _stable(stopped.out) == _stable(whole.out)  # the skip counter is checkpointed too


def _stream(source, batch: int, bands: int | None = None) -> MimStream:
    spec = SampleSpec(AugmentConfig(img_size=32), MaskConfig("pimask", mask_patch=16), bands=bands)
    stream = MimStream(*source, StreamConfig(seed=0, batch_size=batch, shuffle_buffer=0), spec)
    stream.set_position(0, 0, epochs=1)
    return stream


def test_a_wholly_broken_batch_borrows_a_spare_of_the_plan(tmp_path):
    root = make_corpus(tmp_path, n=8, size=40, per_shard=4)
    shard = root / "shards" / "train-000000.tar"
    for i, key in enumerate(_keys(shard)):
        _garble(shard, f"{key}.png", seed=i)
    batches = list(make_loader(_stream(open_source(corpus=str(root)), batch=4)))
    assert [len(b["key"]) for b in batches] == [4, 4] and sum(len(b["skipped"]) for b in batches) == 4
    good = set(_keys(root / "shards" / "train-000001.tar"))
    assert all(set(b["key"]) <= good for b in batches)  # the broken batch is made of the good shard's tiles
    broken_batch = next(b for b in batches if b["skipped"])
    assert len({bytes(t.numpy()) for t in broken_batch["image"]}) == 4  # redrawn, not copies


def test_a_sample_with_another_band_count_is_skipped(tmp_path):
    root = make_corpus(tmp_path, n=8, size=40, per_shard=8)
    shard = root / "shards" / "train-000000.tar"
    with tarfile.open(shard) as tar:
        names = tar.getnames()
        metas = [json.loads(tar.extractfile(n).read()) for n in names if n.endswith(".json")]
        images = [tar.extractfile(n).read() for n in names if n.endswith(".png")]
    odd = encode(synthetic_tile(np.random.default_rng(5), 40, 4), "png")  # 4 bands in a 3-band run
    rows = [(m["tile_id"], odd if i == 3 else images[i], "png", m) for i, m in enumerate(metas)]
    write_shard(shard, rows)  # offsets change: index the shard by its headers, not the catalog
    source = open_source(shards=[str(shard)])
    (batch,) = list(make_loader(_stream(source, batch=8, bands=3)))
    assert batch["image"].shape == (8, 32, 32, 3) and batch["skipped"] == [f"{shard}#{rows[3][0]}"]


def _nan_on(calls: set[int], monkeypatch) -> list[int]:
    """Make the objective return NaN on the given (1-based) calls; returns the call counter."""
    count, real = [0], pretrain.masked_l1

    def objective(*args, **kw):
        count[0] += 1
        loss = real(*args, **kw)
        return loss * float("nan") if count[0] in calls else loss

    monkeypatch.setattr(pretrain, "masked_l1", objective)
    return count


def test_a_non_finite_loss_skips_the_update(broken, tmp_path, monkeypatch):
    root, _, _ = broken
    cfg = _cfg(root, tmp_path / "unit")
    trainer = pretrain.Trainer(cfg, DistInfo(), 3)
    source = open_source(corpus=str(root))
    spec = SampleSpec(AugmentConfig(img_size=64), MaskConfig("pimask", mask_patch=32))
    stream = MimStream(*source, StreamConfig(batch_size=4, shuffle_buffer=0), spec)
    stream.set_position(0, 0, epochs=1)
    batches = iter(make_loader(stream))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    _nan_on({1}, monkeypatch)
    loss, _ = trainer.train_step([next(batches)], 0.01)
    assert not torch.isfinite(loss) and trainer.step == 1 and (trainer.bad_steps, trainer.bad_run) == (1, 1)
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert all(p.grad is None for p in trainer.model.parameters()) and not trainer.optimizer.state
    loss, _ = trainer.train_step([next(batches)], 0.01)
    assert torch.isfinite(loss) and (trainer.bad_steps, trainer.bad_run) == (1, 0)
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_isolated_bad_steps_are_survived_and_logged(broken, tmp_path, monkeypatch):
    root, _, _ = broken
    _nan_on({2, 4}, monkeypatch)
    cfg = _cfg(root, tmp_path / "isolated", max_bad_steps=2)
    assert pretrain.run(cfg)["steps"] == 4
    records = read_jsonl(tmp_path / "isolated" / "metrics.jsonl")
    assert [r["loss"] is None for r in records] == [False, True, False, True]
    assert [r["bad_steps"] for r in records] == [0, 1, 1, 2]
    assert checkpoint.load(checkpoint.latest(cfg.out))["faults"]["bad_steps"] == 2


def test_consecutive_bad_steps_stop_the_run_with_a_clear_error(broken, tmp_path, monkeypatch):
    root, _, _ = broken
    _nan_on({2, 3, 4}, monkeypatch)
    with pytest.raises(RuntimeError, match=r"3 consecutive steps \(steps 2\.\.4\).*learning rate.*data"):
        pretrain.run(_cfg(root, tmp_path / "diverged", max_bad_steps=3, steps=6))
    assert [r["step"] for r in read_jsonl(tmp_path / "diverged" / "metrics.jsonl")] == [1, 2, 3]


def test_checkpoints_are_weights_only_and_replaced_atomically(broken, tmp_path, monkeypatch):
    root, _, _ = broken
    cfg = _cfg(root, tmp_path / "ckpt", steps=2, checkpoint_every=1)
    pretrain.run(cfg)
    path = checkpoint.latest(cfg.out)
    assert checkpoint.load(path)["step"] == 2  # the whole state passes torch.load(weights_only=True)

    def dies_midway(payload, target):  # torch.save writes into the open temp file
        target.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(OSError):
        checkpoint.save_atomic({"step": 3}, path)
    assert checkpoint.load(path)["step"] == 2  # the previous checkpoint survives a failed write
    assert sorted(p.name for p in Path(path).parent.iterdir()) == [Path(path).name]  # no temp left
    monkeypatch.undo()
    evil = tmp_path / "evil.pt"
    torch.save({"step": 1, "payload": _Arbitrary()}, evil)
    with pytest.raises(pickle.UnpicklingError):
        checkpoint.load(evil)  # weights_only refuses arbitrary objects


class _Arbitrary:
    """A pickled object that ``weights_only`` loading must refuse."""
