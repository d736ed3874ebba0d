"""``ringmo demo``: the whole product on the built-in sample scenes, end to end on a laptop CPU.

samples -> build (ingest, tile, curate, pack, report) -> query -> MIM pretraining ->
fine-tuning pretrained vs random init on the labeled sample set, then on the dense sample sets
(segmentation mIoU, change-detection F1) and on the detection set (oriented boxes, DOTA mAP50)
-> summary of where to look.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from catalogs.query import Query, read_catalog
from workflows.build import build, print_summary
from workflows.build_config import BuildConfig
from workflows.query_output import geojson
from workflows.samples import write_labeled_set, write_sample_scenes

PARIS = (2.2, 48.75, 2.55, 48.95)
DEMO_TILE = 128
DEMO_TARGET_SIZE = 700  # of ~830 deduplicated tiles: enough for balancing to flatten the hot spots
DEMO_STEPS = 300
DEMO_SPLIT_BLOCKS = 5  # H3 res-5 blocks (~250 km²): the demo covers too few res-3 blocks for 3 splits


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def _samples(raw: Path, labeled: Path) -> None:
    """Write the sample data once (it is deterministic, so an existing copy is the same)."""
    done = raw.parent / ".samples-written"
    if not done.exists():
        write_sample_scenes(raw, seed=0)
        write_labeled_set(labeled, seed=0)
        done.touch()


def build_demo_corpus(raw: Path, corpus: Path, *, labels: str | None = None, tile_size: int = DEMO_TILE):
    config = BuildConfig(inputs=(str(raw),), corpus=str(corpus), tile_size=tile_size, labels=labels,
                         shard_max_count=200, target_size=DEMO_TARGET_SIZE, seed=0,
                         split_block_resolution=DEMO_SPLIT_BLOCKS)
    summary = build(config)
    print_summary(summary)
    return summary


def query_demo(corpus: Path, out: Path) -> Path:
    rows = read_catalog(str(corpus), Query(bbox=PARIS))
    by_sensor: dict[str, int] = {}
    for sensor in rows.column("sensor").to_pylist():
        by_sensor[sensor] = by_sensor.get(sensor, 0) + 1
    path = out / "paris.geojson"
    path.write_text(json.dumps(geojson(rows)))
    print(f"tiles over Paris {PARIS}: {rows.num_rows} {by_sensor} -> {path}")
    return path


def pretrain_demo(corpus: Path, out: Path, steps: int) -> dict:
    """A short RingMo pretraining (Swin-nano, PIMask) on the aerial tiles of the demo corpus."""
    from training.pretrain import demo_config, run

    result = run(demo_config(str(corpus), str(out), steps=steps))
    print(f"reconstruction picture: {result['picture']}")
    return result


def downstream_demo(labeled: Path, out: Path, run_dir: Path) -> dict:
    """Linear probes on the labeled sample set: the pretrained encoder against random init."""
    from training.pretrain import demo_config
    from workflows.downstream import run_downstream

    model = demo_config("", str(run_dir)).model
    figures = run_downstream(labeled, out, run_dir / "checkpoints" / "last.pt", model)
    print(f"linear probe top-1 on the test split: pretrained {figures['pretrained_top1']:.3f} "
          f"vs random init {figures['random_top1']:.3f}")
    return figures


def detection_demo(out: Path, run_dir: Path) -> dict:
    """Oriented-box fine-tuning on the sample detection set: pretrained encoder vs random init."""
    from training.pretrain import demo_config
    from workflows.detection_demo import compare_detection

    return compare_detection(out, run_dir / "checkpoints" / "last.pt", demo_config("", str(run_dir)).model)


def run_demo(out: Path, *, steps: int = DEMO_STEPS) -> int:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    raw, labeled = out / "raw", out / "labeled"
    _banner("1/7 sample scenes")
    _samples(raw, labeled)
    print(f"raw scenes: {raw}\nlabeled set: {labeled}")
    _banner("2/7 build the corpus (ingest, tile, dedup, balance, pack)")
    summary = build_demo_corpus(raw, out / "corpus")
    _banner("3/7 query the catalog")
    query_demo(out / "corpus", out)
    _banner(f"4/7 RingMo pretraining ({steps} CPU steps, Swin-nano, PIMask)")
    pretrained = pretrain_demo(out / "corpus", out / "pretrain", steps)
    _banner("5/7 downstream: linear probe, pretrained vs random init")
    downstream = downstream_demo(labeled, out / "downstream", Path(pretrained["run_dir"]))
    _banner("6/7 dense downstream: segmentation and change detection, pretrained vs random init")
    from workflows.dense_demo import run_dense_demo
    from training.pretrain import demo_config

    dense = run_dense_demo(out / "dense", Path(pretrained["run_dir"]) / "checkpoints" / "last.pt",
                           demo_config("", str(pretrained["run_dir"])).model)
    _banner("7/7 detection: oriented boxes, pretrained vs random init")
    detection = detection_demo(out / "detection", Path(pretrained["run_dir"]))
    results = {"corpus": str(out / "corpus"), "report": summary["report"],
               "reconstruction": pretrained["picture"], "metrics": str(Path(pretrained["run_dir"]) / "metrics.jsonl"),
               "pretrained_top1": downstream["pretrained_top1"], "random_top1": downstream["random_top1"],
               "finetune_results": downstream["pretrained_results"],
               "segmentation_miou": {k: dense["segmentation"][k] for k in ("pretrained", "random")},
               "change_f1": {k: dense["change"][k] for k in ("pretrained", "random")},
               "detection_map50": {k: v["map50"] for k, v in detection.items()},
               "detection_results": detection["pretrained"]["results"]}
    _banner("done")
    print(json.dumps(results, indent=2))
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0
