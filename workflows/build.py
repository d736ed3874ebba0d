"""``ringmo build``: raw scenes → staged candidates → curated selection → shards + catalog.

Each stage persists its outputs atomically under ``CORPUS/staging`` before the next starts, so
a build killed at any point resumes where it stopped, and the same inputs, config and seed give
byte-identical shards and catalog whatever the number of workers. ``CORPUS`` is a local path or
an fsspec URL (``s3://bucket/corpus``): every file goes through :class:`catalogs.store.Store`,
so workers on other machines write their shards and records straight to the object store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalogs.errors import CorpusError, InputError
from catalogs.geoparquet import write_parquet
from catalogs.layout import (CORPUS_DIRS, CURATED, DISCOVERY, INPUT_RECORDS, MANIFEST, SHARD_GLOB, TEMP_PATTERNS,
                             WORKER_TEMP_PATTERNS,
                             packed_record, scene_candidates)
from catalogs.manifest import read_manifest, write_manifest
from catalogs.schema import CANDIDATE_SCHEMA, conform
from catalogs.store import Store
from pipeline.scene import SceneInfo, SourceRef
from pipeline.sensors import DEFAULT_RULES, match_rule, rules_from_dicts
from pipeline.shards import PackConfig, plan_shards, sample_metadata
from pipeline.sources import discover
from workflows import tasks
from workflows.assemble import assemble_catalog
from workflows.build_config import BuildConfig
from workflows.config import config_dict
from workflows.curation import curate_config_from, run_curation
from workflows.engine import Engine, open_engine
from workflows.faults import fault_point
from workflows.dense_labels import attach_dense, matcher_for
from workflows.labels import annotated_refs, annotations_of, attach_labels
from workflows.report.background import FigureDrawer
from workflows.staging import compact_staging, forget_scene, restore_staging
from workflows.tiling import tile_config_from


@dataclass
class Inputs:
    """What ingest found: readable scenes (one per distinct content) and every rejection."""

    scenes: list[SceneInfo] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # {"uri", "error"}


def build(config: BuildConfig, *, progress: bool = True, reuse_inputs: bool = False) -> dict:
    """Run (or resume) a whole build; returns the summary also stored in the manifest.

    ``reuse_inputs`` (``ringmo curate``) takes the inputs from the ingest records instead of
    listing the raw inputs again, so re-curation works even when the raw scenes are gone.
    """
    clock, corpus = Stopwatch(), Store(config.corpus)
    with ThreadPoolExecutor(2) as pool, FigureDrawer(corpus) as figures:
        # off the critical path: inputs are listed while the cluster starts, the report's plotting
        # stack loads while scenes are tiled (in a helper process that draws the figures while
        # the shards are written, for large builds), the cluster shuts down while the catalog is
        # written
        prepared = pool.submit(_prepare, corpus, config, reuse_inputs)
        engine_context = open_engine(config.scheduler, config.workers, progress=progress)
        engine = engine_context.__enter__()
        try:
            config, listed = prepared.result()
            figures.start(None if listed is None else listed[0], engine.spare_cores)
            warmed = []  # after ingest: its Python work would wait on the warm-up's imports for the GIL
            clock.lap("start")
            failures, curated, packed, inputs = _stages(
                corpus, config, listed, engine, clock,
                ingested=lambda: warmed.append(pool.submit(_warm_up, figures.drawn_here)),
                curated_written=figures.draw)
            report = warmed[0]
        except BaseException:
            engine_context.__exit__(*sys.exc_info())
            raise
        closed = pool.submit(_close_engine, engine_context, corpus)
        fault_point("assemble.started")
        summary = assemble_catalog(corpus, config, curated, packed, inputs, failures)
        clock.lap("catalog")
        fault_point("report.started")
        summary["report"] = str(report.result().write_report(corpus.root, drawn=figures.result()))
        clock.lap("report")
        closed.result()
    if not config.keep_staging:
        summary["staging"] = compact_staging(corpus, curated)
        clock.lap("staging")
    if summary["scenes"]["read"] == 0:
        raise InputError(", ".join(config.inputs), _nothing_read(summary))
    summary["timings"] = clock.laps()
    _record_timings(corpus, summary["timings"])
    return summary


def _prepare(corpus: Store, config: BuildConfig, reuse_inputs: bool) -> tuple[BuildConfig, tuple | None]:
    """List the inputs and check the corpus before anything is written (a typo'd path writes
    nothing), then mark the build started; returns the config to record and the listing."""
    if reuse_inputs:
        require_staging(corpus)
        listed = None
    else:
        listed = discover_inputs(config)
        if config.overwrite:
            remove_corpus(corpus)
        else:
            check_resumable(corpus, config)
    config = dataclasses.replace(config, overwrite=False)  # an action, not a setting to record
    _start_manifest(corpus, config)
    _remove_temporaries(corpus)
    fault_point("build.started")
    return config, listed


def _stages(corpus: Store, config: BuildConfig, listed, engine: Engine, clock: Stopwatch, *, ingested,
            curated_written) -> tuple:
    """Ingest (or reuse the ingest records), tile, curate and pack, timing each stage;
    ``ingested()`` and ``curated_written()`` start background work once those stages are done."""
    inputs = recorded_inputs(corpus) if listed is None else ingest_stage(config, listed, engine)
    clock.lap("ingest")
    ingested()
    failures, curated = tile_and_curate(corpus, config, inputs, engine, clock)
    jobs = pack_jobs(corpus, curated, config)
    lost = restore_for_packing(corpus, curated, jobs)
    if lost:  # bytes gone with a lost shard: tile those scenes again (same bytes)
        for blob in lost:
            forget_scene(corpus, blob)
        failures, curated = tile_and_curate(corpus, config, inputs, engine, clock)
        jobs = pack_jobs(corpus, curated, config)
    curated_written()
    packed = pack_stage(corpus, jobs, engine)
    clock.lap("pack")
    return failures, curated, packed, inputs


def _close_engine(engine_context, corpus: Store) -> None:
    """Shut the cluster down, then delete what workers killed and retried during this run left
    (staging and shards only: the catalog is being written meanwhile)."""
    engine_context.__exit__(None, None, None)
    _remove_temporaries(corpus, WORKER_TEMP_PATTERNS)


def _warm_up(draws_figures: bool):
    """Set up, off the critical path, what the build's process pays once: numba's first call
    (~0.3 s of imports and code-generator set-up; curation's first compiled function would pay
    it in line), the report's imports (pandas, and matplotlib with its fonts when this process
    draws the figures: ~1-2 s); returns the report module."""
    from pipeline.dedup import overlap_blocks
    from workflows import report

    overlap_blocks(np.array([[0.0, 0.0, 1.0, 1.0]]))
    if draws_figures:
        report.warm_up()
    return report


class Stopwatch:
    """Wall seconds per build stage, in stage order (the manifest's ``timings``)."""

    def __init__(self):
        self._start = self._last = time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self._laps[stage] = round(self._laps.get(stage, 0.0) + now - self._last, 3)
        self._last = now

    def laps(self) -> dict[str, float]:
        return {**self._laps, "total": round(self._last - self._start, 3)}


def _record_timings(corpus: Store, timings: dict[str, float]) -> None:
    """Per-stage wall seconds in the manifest, written last (the report is timed too).

    They describe this run only: the one part of the manifest that differs between two
    otherwise byte-identical builds.
    """
    manifest = read_manifest(corpus.root)
    manifest["timings"] = timings
    write_manifest(corpus.root, manifest)


def _nothing_read(summary: dict) -> str:
    rejected = summary["rejected_inputs"]
    shown = "; ".join(f"{r['uri']}: {r['error']}" for r in rejected[:3])
    more = f"; and {len(rejected) - 3} more" if len(rejected) > 3 else ""
    return (f"no input scene could be read ({len(rejected)} rejected: {shown}{more}); every input and "
            f"its reason is in {summary['corpus']}/catalog/scenes.parquet")


def discover_inputs(config: BuildConfig) -> tuple[list[SourceRef], list[dict]]:
    """List the inputs; refuse a build where not one raster was found (typo'd or empty input)."""
    refs, problems = discover(list(config.inputs), stac_assets=config.stac_assets, group=config.group_bands)
    if config.detection():
        refs, unlabeled = annotated_refs(refs, annotations_of(config))
    else:
        refs, unlabeled = attach_labels(refs, config.labels, list(config.inputs))
    refs, unmasked = attach_dense(refs, config)
    problems = [{"uri": where, "error": message} for where, message in [*problems, *unlabeled, *unmasked]]
    if not refs:
        said = [p["error"] if p["uri"] in config.inputs and len(config.inputs) == 1 else f"{p['uri']}: {p['error']}"
                for p in problems]
        found = "; ".join(said) or "no raster file found there"
        raise InputError(", ".join(config.inputs), f"nothing to build from: {found}")
    return refs, problems


def check_resumable(corpus: Store, config: BuildConfig) -> None:
    """Resume a build of the same inputs and tiling settings; refuse to replace anything else."""
    previous = read_manifest(corpus.root).get("config") if corpus.exists(MANIFEST) else None
    if previous is None:
        if any(corpus.glob(f"{directory}/*") for directory in CORPUS_DIRS):
            raise CorpusError(corpus.root, "holds corpus files but no manifest.json; pass --overwrite to "
                              "replace them or choose another directory")
        return
    now = config_dict(config)
    if list(previous.get("inputs") or []) != list(now["inputs"]):
        raise CorpusError(corpus.root, f"was built from other inputs ({', '.join(previous.get('inputs') or [])}"
                          f" instead of {', '.join(now['inputs'])}); pass --overwrite to replace it, or "
                          "build into another directory")
    changed = sorted(k for k in BuildConfig().tiling_fields() if previous.get(k) != now.get(k))
    if changed:
        raise CorpusError(corpus.root, f"was built with other tiling settings ({', '.join(changed)}); pass "
                          f"--overwrite to replace it, build into another directory, or use `ringmo curate "
                          f"{corpus.root}` to change curation settings only")


def remove_corpus(corpus: Store) -> None:
    """Delete what a build writes (and nothing else a user may keep in that directory)."""
    for directory in CORPUS_DIRS:
        corpus.remove_tree(directory)
    corpus.remove(MANIFEST)


def _start_manifest(corpus: Store, config: BuildConfig) -> None:
    """Record the config and mark the build unfinished until the catalog is written again
    (``ringmo validate`` reports an interrupted build instead of trusting stale stages)."""
    manifest = read_manifest(corpus.root)
    manifest["config"] = config_dict(config)
    manifest["stages"] = {"build": "running"}
    write_manifest(corpus.root, manifest)


def _remove_temporaries(corpus: Store, patterns=TEMP_PATTERNS) -> None:
    """Delete temp files of killed runs or workers; only called while no task is running.

    Only local corpora have any: on object stores a write is one upload that either happened
    or did not.
    """
    if not corpus.local:
        return
    for pattern in patterns:
        for rel in corpus.glob(pattern):
            corpus.remove(rel)


def _rules(config: BuildConfig):
    return rules_from_dicts(list(config.sensors)) if config.sensors else DEFAULT_RULES


def ingest_stage(config: BuildConfig, listed: tuple[list[SourceRef], list[dict]], engine: Engine) -> Inputs:
    """Read each listed input's metadata; identical files are kept once."""
    refs, problems = listed
    Store(config.corpus).write_json(DISCOVERY, {"problems": problems})
    jobs = [tasks.IngestTask(ref, _rules(config), str(config.corpus)) for ref in refs]
    records = [None] * len(jobs)
    for index, record in engine.map(tasks.ingest, jobs, desc="ingest"):
        records[index] = record
    return _inputs_from(records, problems)


def require_staging(corpus: Store) -> None:
    """``ringmo curate`` needs the ingest records and staged candidates of the build."""
    if not corpus.exists(DISCOVERY):
        raise CorpusError(corpus.root, "has no staging records (was staging removed?); run `ringmo build` again")


def recorded_inputs(corpus: Store) -> Inputs:
    """The ``Inputs`` of an earlier build, from its ingest records alone."""
    records = [corpus.read_json(rel) for rel in corpus.glob(INPUT_RECORDS)]
    return _inputs_from(records, corpus.read_json(DISCOVERY)["problems"])


def _inputs_from(records: list[dict], problems: list[dict]) -> Inputs:
    """Scenes by content (the first URI of identical files wins; the others are recorded)."""
    inputs = Inputs(rejected=list(problems))
    first_uri: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r["uri"]):
        scene = tasks.scene_from_record(record)
        if scene is None:
            inputs.rejected.append({"uri": record["uri"], "error": record["error"]})
        elif scene.scene_id in first_uri:
            inputs.rejected.append({"uri": record["uri"],
                                    "error": f"duplicate input: same bytes as {first_uri[scene.scene_id]}"})
        else:
            first_uri[scene.scene_id] = record["uri"]
            inputs.scenes.append(scene)
    return inputs


def tile_stage(config: BuildConfig, scenes: list[SceneInfo], engine: Engine) -> dict[str, str]:
    """Tile every scene into staging; returns {scene_id: error} for scenes that failed."""
    tile_config = tile_config_from(config)
    rules = _rules(config)
    _warn_gsd_ignored(config, scenes)
    matcher = matcher_for(config)
    annotations = annotations_of(config) if config.detection() else None
    jobs = [tasks.TileTask(s, match_rule(s.uri, rules, s.sensor), tile_config, str(config.corpus),
                           matcher.labels_for(s.uri)[0] if matcher else None, annotations, config.min_inside)
            for s in scenes]
    failures = {}
    for _, result in engine.map(tasks.tile, jobs, desc="tile"):
        if result.get("error"):
            failures[result["scene_id"]] = result["error"]
    return failures


def tile_and_curate(corpus: Store, config: BuildConfig, inputs: Inputs, engine: Engine,
                    clock: Stopwatch | None = None) -> tuple[dict, pa.Table]:
    """Tile what is not staged yet, then curate every candidate (metadata only)."""
    failures = tile_stage(config, inputs.scenes, engine)
    if clock is not None:
        clock.lap("tile")
    candidates = load_candidates(corpus, inputs.scenes, failures)
    curated = run_curation(candidates, curate_config_from(config))
    write_parquet(curated, corpus.url(CURATED))
    fault_point("curate.written")
    if clock is not None:
        clock.lap("curate")
    return failures, curated


def _warn_gsd_ignored(config: BuildConfig, scenes: list[SceneInfo]) -> None:
    """One warning per build: --gsd cannot resample inputs whose pixel size is unknown."""
    plain = [s.uri for s in scenes if not s.georeferenced]
    if config.gsd is not None and plain:
        warnings.warn(f"--gsd {config.gsd:g} is ignored for {len(plain)} input(s) that are not georeferenced "
                      f"(their pixel size is unknown; tiled at native resolution), e.g. {plain[0]}",
                      UserWarning, stacklevel=2)


def load_candidates(corpus: Store, scenes: list[SceneInfo], failures: dict[str, str]) -> pa.Table:
    """All staged candidate rows, in scene-id order (metadata only: no pixels are read)."""
    tables = [corpus.read_parquet(scene_candidates(s.scene_id))
              for s in sorted(scenes, key=lambda s: s.scene_id) if s.scene_id not in failures]
    if not tables:
        return CANDIDATE_SCHEMA.empty_table()
    return pa.concat_tables([conform(t, CANDIDATE_SCHEMA) for t in tables])


def pack_jobs(corpus: Store, curated: pa.Table, config: BuildConfig) -> list[tasks.PackTask]:
    """One job per planned shard of the kept rows."""
    kept = curated.filter(pc.equal(curated.column("status"), "kept"))
    pack_config = PackConfig(max_bytes=config.shard_max_mb * 1024 * 1024,
                             max_count=config.shard_max_count, seed=config.seed)
    by_id = {row["tile_id"]: row for row in kept.to_pylist()}
    return [tasks.PackTask(p.shard, rows, corpus.root, plan_digest(rows))
            for p in plan_shards(kept, pack_config) for rows in [tuple(by_id[t] for t in p.tile_ids)]]


def restore_for_packing(corpus: Store, curated: pa.Table, jobs: list[tasks.PackTask]) -> set[str]:
    """Bring back compacted staging if a shard of ``jobs`` must be (re)written; returns the blobs lost.

    A new plan may set aside tiles the old shards hold and keep ones set aside before, so
    every blob comes back while the last plan's shards are still all there (compaction then
    sorts them out anew). Nothing is restored when every shard of the plan is already written.
    """
    if all(tasks.is_packed(job) for job in jobs):
        return set()
    return restore_staging(corpus, set(pc.drop_null(curated.column("stage_file")).to_pylist()), curated)


def pack_stage(corpus: Store, jobs: list[tasks.PackTask], engine: Engine) -> list[dict]:
    """Write the planned shards (:func:`pack_jobs`); previously written shards of this plan are
    skipped."""
    _drop_stale_shards(corpus, {job.shard for job in jobs})
    packed = [None] * len(jobs)
    for index, record in engine.map(tasks.pack, jobs, desc="pack"):
        packed[index] = record
    return packed


def plan_digest(rows: tuple[dict, ...]) -> str:
    """What a shard will hold, as a digest: a shard written for another plan (an earlier
    curation) has the same name but another digest, so it is rewritten, not reused."""
    sha = hashlib.sha256()
    for row in rows:
        sha.update(f"{row['tile_id']}:{row['format']}:{row['stage_size']}\n".encode())
        sha.update(sample_metadata(row))
    return sha.hexdigest()


def _drop_stale_shards(corpus: Store, planned: set[str]) -> None:
    """Remove shards (and their records) a different plan left behind, e.g. after re-curation."""
    for shard in corpus.glob(SHARD_GLOB):
        if shard not in planned:
            corpus.remove(shard)
            corpus.remove(packed_record(shard))


def print_summary(summary: dict, file=None) -> None:
    """The human summary of a build: what came in, what was kept, what was rejected and why."""
    scenes = summary["scenes"]
    tiles = summary["tiles"]
    lines = [
        f"corpus: {summary['corpus']}",
        f"scenes: {scenes['read']} read, {scenes['rejected']} rejected",
        *[f"  rejected {r['uri']}: {r['error']}" for r in summary["rejected_inputs"]],
        f"candidates: {tiles['candidates']}  kept: {tiles['kept']}",
        *[f"  {reason}: {count}" for reason, count in sorted(tiles["rejected"].items())],
        f"shards: {summary['shards']['count']} ({summary['shards']['bytes'] / 1e6:.1f} MB)",
        f"catalog: {summary['catalog']}",
        f"report: {summary['report']}",
    ]
    timings = summary.get("timings") or {}
    if timings:
        lines.append("wall seconds: " + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in timings.items()))
    leaks = summary.get("leaks") or {}
    if leaks.get("pairs"):
        lines.append(f"split leaks: {leaks['pairs']} kept near-duplicate pair(s) across splits "
                     f"(manifest 'leaks'), e.g. {leaks['examples'][0]}")
    print("\n".join(lines), file=file or sys.stdout)
