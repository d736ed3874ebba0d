import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.training.corpus import make_corpus
from training import checkpoint
from training.config import PretrainConfig
from training.metrics import read_jsonl
from training.pretrain import main, run

ROOT = Path(__file__).resolve().parents[2]
STABLE = ("step", "epoch", "batch", "loss", "lr")  # metric fields that must replay exactly


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n=30, size=72, per_shard=7)


def _cfg(corpus, out, **kw) -> PretrainConfig:
    base = dict(out=str(out), corpus=str(corpus), model="swin_nano", steps=8, batch_size=4, base_lr=0.05,
                warmup_steps=2, num_workers=0, log_every=1, checkpoint_every=3, image_every=0,
                progress=False, deterministic=True, shuffle_buffer=5)
    base.update(kw)
    return PretrainConfig(**base)


def _losses(run_dir) -> list[tuple]:
    return [tuple(r[k] for k in STABLE) for r in read_jsonl(Path(run_dir) / "metrics.jsonl")]


@pytest.mark.parametrize("workers", [0, 1])
def test_kill_and_resume_reproduces_the_uninterrupted_losses(corpus, tmp_path, workers):
    whole = _cfg(corpus, tmp_path / "whole", num_workers=workers)
    run(whole)
    broken = replace(whole, out=str(tmp_path / "broken"), stop_after=5)  # dies 2 steps after a checkpoint
    run(broken)
    assert checkpoint.load(checkpoint.latest(broken.out))["step"] == 3
    assert len(_losses(broken.out)) == 5
    run(replace(broken, stop_after=None))
    assert _losses(broken.out) == _losses(whole.out)  # exact equality, steps 1..8, epochs crossed
    assert _losses(whole.out)[-1][1] >= 1


def test_cli_runs_resumes_with_more_steps_and_guards_the_run(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--corpus", str(corpus), "--model", "vit_nano", "--steps", "3", "--batch-size", "4", "--out", str(out),
            "--num-workers", "0", "--log-every", "1", "--no-progress", "--bbox=-11,30,5,60", "--image-every", "2"]
    assert main(args) == 0
    assert "reconstruction picture:" in capsys.readouterr().out
    assert main(args[:5] + ["5"] + args[6:]) == 0
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    assert (out / "config.yaml").exists() and (out / "reconstruction.png").exists()
    assert (out / "recon" / "step_0000002.png").exists()
    assert checkpoint.load(out / "checkpoints" / "last.pt")["step"] == 5
    with pytest.raises(ValueError, match="model"):
        main(args[:3] + ["swin_nano"] + args[4:])


@pytest.mark.slow
def test_tiny_model_loss_falls(corpus, tmp_path):
    cfg = _cfg(corpus, tmp_path / "fall", model="vit_nano", steps=120, batch_size=8, base_lr=0.1,
               warmup_steps=10, checkpoint_every=1000, deterministic=False, shuffle_buffer=100)
    run(cfg)
    losses = [r[3] for r in _losses(cfg.out)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.6 * first, (first, last)


def _spawn(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """Wait for a spawned run; on timeout kill its whole process group (torchrun's ranks too)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"run did not end within {timeout} s:\n{out[-3000:]}")
    return proc.returncode, out


def _flags(corpus, out, steps: int) -> list[str]:
    return ["--corpus", str(corpus), "--model", "swin_nano", "--steps", str(steps), "--batch-size", "4",
            "--out", str(out), "--num-workers", "1", "--log-every", "1", "--checkpoint-every", "3",
            "--image-every", "0", "--no-progress", "--deterministic", "--base-lr", "0.05", "--shuffle-buffer", "5"]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(corpus, tmp_path):
    code, text = _finish(_spawn(["-m", "training.pretrain", *_flags(corpus, tmp_path / "whole", 12)]), 600)
    assert code == 0, text  # the reference in the same kind of process (thread count changes sums)
    out = tmp_path / "killed"
    proc = _spawn(["-m", "training.pretrain", *_flags(corpus, out, 12)])
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = (out / "metrics.jsonl").exists() and len(read_jsonl(out / "metrics.jsonl")) >= 5
        if done:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its loader worker, mid-run
    proc.communicate()
    killed_at = len(read_jsonl(out / "metrics.jsonl"))
    assert 5 <= killed_at < 12 and checkpoint.latest(out) is not None
    code, text = _finish(_spawn(["-m", "training.pretrain", *_flags(corpus, out, 12)]), 600)
    assert code == 0, text
    assert _losses(out) == _losses(tmp_path / "whole")


@pytest.mark.slow
def test_torchrun_two_ranks_gloo(tmp_path):
    corpus = make_corpus(tmp_path / "c", n=45, size=64, per_shard=10)  # 5 shards, 2 ranks x 2 workers
    out = tmp_path / "ddp"
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training.pretrain",
            "--shards", str(corpus / "shards" / "train-{000000..000004}.tar"), "--model", "vit_nano",
            "--steps", "7", "--batch-size", "4", "--out", str(out), "--num-workers", "2", "--log-every", "1",
            "--log-keys", "--no-progress", "--checkpoint-every", "4", "--device", "cpu"]
    code, text = _finish(_spawn(args), 300)
    assert code == 0, text
    ranks = [read_jsonl(out / "keys" / f"rank{r}.jsonl") for r in range(2)]
    assert [len(r) for r in ranks] == [7, 7]  # both ranks ran every step
    per_epoch: dict[int, list[str]] = {}
    for records in ranks:
        for rec in records:
            per_epoch.setdefault(rec["epoch"], []).extend(rec["keys"])
    assert len(per_epoch) >= 2 and len(per_epoch[0]) == 2 * 5 * 4  # 45 // 2 // 4 = 5 batches per rank
    for keys in per_epoch.values():
        assert len(keys) == len(set(keys))  # no sample twice in an epoch, across ranks
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == list(range(1, 8))
    assert checkpoint.load(out / "checkpoints" / "last.pt")["step"] == 7
