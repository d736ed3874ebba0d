"""The units of work a build hands to Dask: one input to ingest, one scene to tile, one shard.

Each task is a module-level function of one picklable argument, records its result on disk
atomically and returns it; if the record already exists the task returns it without redoing
the work, which is how a killed build resumes. Bad input never raises out of a task: it comes
back as a rejection with the file named and the problem stated.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from catalogs.layout import STAGING, input_record, packed_record, scene_candidates, scene_error
from catalogs.store import Store, is_storage_error
from pipeline.dense import SceneLabels
from pipeline.ingest import read_scene_info
from pipeline.object_tiles import MIN_INSIDE, TileObjects
from pipeline.objects import Annotations
from pipeline.scene import SceneError, SceneInfo, SensorRule, SourceRef
from pipeline.shards import write_shard
from pipeline.threads import single_threaded
from pipeline.tiler import TileConfig, stage_scene
from workflows.faults import fault_point, hook
from workflows.records import input_key, scene_from_dict, scene_to_dict


@dataclass(frozen=True)
class IngestTask:
    ref: SourceRef
    rules: tuple[SensorRule, ...]
    corpus: str


@dataclass(frozen=True)
class TileTask:
    scene: SceneInfo
    rule: SensorRule
    config: TileConfig
    corpus: str
    labels: SceneLabels | None = None  # dense tasks: the scene's mask (and second date)
    annotations: Annotations | None = None  # detection builds: where the scene's objects come from
    min_inside: float = MIN_INSIDE


@dataclass(frozen=True)
class PackTask:
    shard: str
    rows: tuple[dict, ...]
    corpus: str
    plan: str = ""  # digest of what the shard holds (build.plan_digest)


def _problem(error: BaseException) -> str:
    if isinstance(error, SceneError):
        return error.problem
    return f"{type(error).__name__}: {error}"


def ingest(task: IngestTask) -> dict:
    """Read one input's metadata; the record holds the scene or the reason it was rejected."""
    store, record_path = Store(task.corpus), input_record(input_key(task.ref.uri))
    if store.exists(record_path):
        return store.read_json(record_path)
    try:
        scene = read_scene_info(task.ref, task.rules, product_dir=store.url("products"))
        record = {"uri": task.ref.uri, "scene": scene_to_dict(scene), "error": None}
    except Exception as error:  # noqa: BLE001 - every failure becomes a recorded rejection
        record = {"uri": task.ref.uri, "scene": None, "error": _problem(error)}
    fault_point("ingest.read")
    store.write_json(record_path, record)
    fault_point("ingest.recorded")
    return record


def tile(task: TileTask) -> dict:
    """Tile one scene into staging; a failure mid-scene rejects the scene and stages nothing."""
    store = Store(task.corpus)
    done = scene_candidates(task.scene.scene_id)
    failed = scene_error(task.scene.scene_id)
    if store.exists(done):
        return {"scene_id": task.scene.scene_id, "error": None}
    if store.exists(failed):
        return store.read_json(failed)
    try:
        objects = None
        if task.annotations is not None:  # a bad annotation file rejects its scene, as a bad image does
            found = task.annotations.objects(task.scene.uri, task.scene.crs, task.scene.transform)
            objects = TileObjects(found, task.min_inside)
        with single_threaded():  # one task per core: no library thread pools on top
            stage_scene(task.scene, task.rule, task.config, store.url(STAGING), checkpoint=hook("tile"),
                        labels=task.labels, objects=objects)
    except Exception as error:  # noqa: BLE001
        if is_storage_error(error):
            raise
        status = getattr(error, "status", "rejected")
        what = "tiling failed" if status == "rejected" else status  # e.g. "too_coarse"
        record = {"scene_id": task.scene.scene_id,
                  "error": f"{task.scene.uri}: {what}: {_problem(error)}",
                  "trace": traceback.format_exc(limit=3)}
        store.write_json(failed, record)
        return record
    fault_point("tile.done")
    return {"scene_id": task.scene.scene_id, "error": None}


def pack(task: PackTask) -> dict:
    """Write one shard from staged bytes and record where each sample landed."""
    store = Store(task.corpus)
    record = is_packed(task)
    if record:
        return record
    placements, digest = write_shard(list(task.rows), task.corpus, task.shard, checkpoint=hook("pack"))
    fault_point("pack.renamed")
    size = store.size(task.shard)
    record = {"shard": task.shard, "sha256": digest, "bytes": size, "plan": task.plan,
              "placements": placements}
    store.write_json(packed_record(task.shard), record)
    fault_point("pack.recorded")
    return record


def is_packed(task: PackTask) -> dict | None:
    """The record of ``task``'s shard if it is written for this very plan, else ``None``."""
    store, record_path = Store(task.corpus), packed_record(task.shard)
    if store.exists(record_path) and store.exists(task.shard):
        record = store.read_json(record_path)
        if record.get("plan") == task.plan:
            return record
    return None


def scene_from_record(record: dict) -> SceneInfo | None:
    return scene_from_dict(record["scene"]) if record.get("scene") else None
