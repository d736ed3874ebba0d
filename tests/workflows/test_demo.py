"""`make demo` end to end (`ringmo demo OUT`), with a short pretraining: every step runs and
hands the next one what it needs. A merge once broke the dense step and only a manual demo run
showed it; this test is that run."""

import json
from pathlib import Path

import pytest

from workflows.cli import main
from workflows.validate import validate_corpus


@pytest.mark.slow
def test_the_demo_runs_every_step(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", str(out), "--steps", "20"]) == 0
    printed = capsys.readouterr().out
    results = json.loads(printed[printed.rindex("\n{") + 1:printed.rindex("}") + 1])
    assert validate_corpus(out / "corpus") == []
    for key in ("report", "reconstruction", "metrics", "finetune_results", "detection_results"):
        assert results[key] and Path(results[key]).exists(), key
    assert (out / "paris.geojson").exists()
    for key in ("pretrained_top1", "random_top1"):
        assert 0.0 <= results[key] <= 1.0
    for task in ("segmentation_miou", "change_f1", "detection_map50"):
        assert set(results[task]) == {"pretrained", "random"}, task
        assert all(0.0 <= v <= 1.0 for v in results[task].values()), task
