"""The streaming MIM loader: planned epoch -> byte-range reads -> decode -> augment -> mask.

``MimStream`` is an ``IterableDataset`` that yields whole batches (use it with
``batch_size=None``), so batch boundaries, the order and the worker assignment are all decided
by the epoch plan (``training.plan``), not by the ``DataLoader``: the ``g``-th batch after the
start position goes to worker ``g % workers``, which is the order in which the ``DataLoader``
collects them round-robin. The stream position is ``(epoch, batches consumed)``; ``set_position``
before iterating makes a resumed run see exactly the batches it had not consumed, without
reading the skipped ones. Augmentation and mask draws are seeded by the sample's place in the
plan, so they are identical whatever the worker count.

The stream runs across epochs, so loader workers live for the whole run.
A batch is ``{"image": [B, H, W, C] in the sample dtype (uint8, uint16 or float32),
"mean", "std": [B, C] float32 corpus statistics of each sample's sensor, "mask": [B, H, W] uint8
(1 = masked), "key": [B] tile ids, "skipped": names of the broken samples replaced in it,
"epoch": int, "batch": int}``; ``prepare`` turns it into the
normalized ``[B, C, H, W]`` float tensor on the device.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from catalogs.errors import SampleError
from catalogs.manifest import read_manifest
from catalogs.store import is_local
from catalogs.tarformat import parse_fragment
from training.decode import decode_drawn, decode_image, decode_sample, image_member, jpeg_header
from training.index import SampleIndex, corpus_of_shards, index_from_catalog, index_from_shards
from training.layouts import RunLayout, estimate, resolve_layout
from training.masking import MaskConfig, generate_mask, mask_batch
from training.normalize import StatsTable, estimate_stats, standardize_batch, stats_from_manifest
from training.plan import StreamConfig, batches_per_epoch, plan_layouts, sample_rng
from training.png import png_array
from training.shared_batches import DEFAULT_SLOTS, Leased, shared_batch
from training.sources import PipeReader, open_reader
from training.transforms import AugmentConfig, apply_draws, augment_batch, draw, identity_draws

log = logging.getLogger(__name__)

REMOTE_GAP = 256 * 1024  # bytes: read through gaps this small rather than issue another request
READ_THROUGH = 0.25  # ... as long as a read's gap bytes stay within this share of its sample bytes
_OPEN_READERS = 16


class Fetcher:
    """Reads sample fragments by (shard, offset, size), coalescing neighbours into one read."""

    def __init__(self, index: SampleIndex, max_gap: int | None = None):
        self.index, self.max_gap = index, max_gap
        self.readers: OrderedDict = OrderedDict()
        self.closed_bytes = 0

    def reader(self, shard: int):
        if shard not in self.readers:
            if len(self.readers) >= _OPEN_READERS:
                _, old = self.readers.popitem(last=False)
                self.closed_bytes += old.bytes_read
                old.close()
            self.readers[shard] = open_reader(self.index.urls[shard])
        self.readers.move_to_end(shard)
        return self.readers[shard]

    @property
    def bytes_read(self) -> int:
        return self.closed_bytes + sum(r.bytes_read for r in self.readers.values())

    def _gap(self, shard: int) -> int:
        if self.max_gap is not None:
            return self.max_gap
        url = self.index.urls[shard]
        if url.startswith("pipe:"):
            return -1  # sample by sample: the pipe reader keeps announced samples, not runs
        return 0 if is_local(url) else REMOTE_GAP

    def fetch(self, positions: np.ndarray) -> list[bytes]:
        """The fragments of index ``positions``, in that order."""
        idx = self.index
        order = sorted(range(len(positions)), key=lambda i: (idx.shard[positions[i]], idx.offset[positions[i]]))
        out: list = [None] * len(positions)
        run: list[int] = []
        useful = waste = 0  # bytes of the run's samples / of the gaps it reads through
        for i in order:
            p = positions[i]
            gap = self._gap_after(positions[run[-1]], p) if run else None
            if gap is not None and self._affordable(int(idx.shard[p]), gap, waste, useful + int(idx.size[p])):
                run.append(i)
                useful, waste = useful + int(idx.size[p]), waste + gap
                continue
            if run:
                self._read_run(run, positions, out)
            run, useful, waste = [i], int(idx.size[p]), 0
        if run:
            self._read_run(run, positions, out)
        return out

    def _gap_after(self, a: int, b: int) -> int | None:
        """Bytes between samples ``a`` and ``b`` when ``b`` follows ``a`` in the same shard, else None."""
        idx = self.index
        gap = int(idx.offset[b] - (idx.offset[a] + idx.size[a]))
        return gap if idx.shard[a] == idx.shard[b] and gap >= 0 else None

    def _affordable(self, shard: int, gap: int, waste: int, useful: int) -> bool:
        """Read through ``gap`` to save a request? An explicit ``max_gap`` is the only limit;
        the remote default also keeps the run's gap bytes within ``READ_THROUGH`` of its sample
        bytes, so a sparse query never fetches much more than its samples."""
        if gap > self._gap(shard):
            return False
        return self.max_gap is not None or gap == 0 or waste + gap <= READ_THROUGH * useful

    def _read_run(self, run: list[int], positions: np.ndarray, out: list) -> None:
        idx = self.index
        first, last = positions[run[0]], positions[run[-1]]
        start = int(idx.offset[first])
        data = self.reader(int(idx.shard[first])).read(start, int(idx.offset[last] + idx.size[last]) - start)
        view = memoryview(data)
        for i in run:
            p = positions[i]
            out[i] = view[int(idx.offset[p]) - start : int(idx.offset[p] + idx.size[p]) - start]

    def announce(self, positions: np.ndarray) -> None:
        """Tell forward-only (pipe:) readers which fragments this worker will ask for."""
        idx = self.index
        for shard in np.unique(idx.shard[positions]):
            if idx.urls[shard].startswith("pipe:"):
                chosen = positions[idx.shard[positions] == shard]
                reader = self.reader(int(shard))
                if isinstance(reader, PipeReader):
                    reader.retain(zip(idx.offset[chosen], idx.size[chosen]))

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()


@dataclass(frozen=True)
class SampleSpec:
    """How a decoded tile becomes a training sample."""

    augment: AugmentConfig = AugmentConfig()
    mask: MaskConfig = MaskConfig()
    on_error: str = "warn"  # warn: replace a broken sample by another of its batch; raise
    bands: int | None = None  # the run's band count: a sample with another one is broken (None: any)
    # True (training on a GPU): workers only decode and draw; crop/resize/flips and the masks run
    # batched on the device in ``prepare`` (batches carry full-size tiles + "draws" + "mask_seed";
    # a PNG tile is decoded only down to its crop's last row, the rows below it stay zero)
    on_device: bool = False
    # on_device: JPEG tiles are not decoded by the workers at all; their bytes go to ``prepare``,
    # which decodes the batch on the device (nvJPEG through torchvision on CUDA)
    device_jpeg: bool = True
    # CPU path: a JPEG tile whose crop shrinks >= 2x is decoded at 1/2, 1/4 or 1/8 scale (libjpeg
    # DCT scaling), with the crop scaled to match: the same draws, near-identical pixels, ~2-4x
    # cheaper decoding (benchmarks/loader.py)
    reduced_jpeg: bool = True


class MimStream(IterableDataset):
    """Batches of augmented, normalized, masked samples for one rank (see module docstring).

    Iteration runs from the position set by ``set_position`` through ``epochs`` epochs (endless
    by default), so one ``DataLoader`` iterator, and one set of worker processes, serves a
    whole run: the ``g``-th batch from the start position goes to worker ``g % workers``.
    """

    def __init__(self, index: SampleIndex, stats: StatsTable, stream: StreamConfig, spec: SampleSpec,
                 rank: int = 0, world: int = 1, max_gap: int | None = None, layouts: tuple = ()):
        super().__init__()
        self.index, self.stats, self.stream, self.spec = index, stats, stream, spec
        self.layouts = tuple(layouts)  # training.layouts.RunLayout per index layout id (() for one unnamed)
        self.rank, self.world, self.max_gap = rank, world, max_gap
        self.epoch, self.start_batch, self.epochs = 0, 0, None
        self.bytes_read = 0  # of the current iteration in this process (num_workers=0)
        self.shared_buffers = DEFAULT_SLOTS  # batch buffers a loader worker reuses (make_loader sets it)
        self._last_error: Exception | None = None

    def set_position(self, epoch: int, batch: int = 0, epochs: int | None = None) -> None:
        """Start the next iteration at ``batch`` of ``epoch``; stop after ``epochs`` (None: never)."""
        self.epoch, self.start_batch, self.epochs = int(epoch), int(batch), epochs

    def batches_per_epoch(self) -> int:
        return batches_per_epoch(len(self.index), self.stream, self.world)

    def __len__(self) -> int:
        if self.epochs is None:
            raise TypeError("an endless stream has no length")
        return self.epochs * self.batches_per_epoch() - self.start_batch

    def positions(self, worker: int = 0, workers: int = 1):
        """``(epoch, batch)`` of every batch this worker yields, in order."""
        per_epoch = self.batches_per_epoch()
        if per_epoch < 1:
            raise ValueError(f"{len(self.index)} samples give no full batch of {self.stream.batch_size} "
                             f"on each of {self.world} rank(s)")
        end = None if self.epochs is None else self.epochs * per_epoch
        g = self.start_batch + worker
        while end is None or g < end:
            yield self.epoch + g // per_epoch, g % per_epoch
            g += workers

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        fetcher, plans = Fetcher(self.index, self.max_gap), {}
        try:
            for epoch, j in self.positions(worker, workers):
                if epoch not in plans:
                    plans = {epoch: self.plan(epoch)}
                    fetcher.announce(plans[epoch][0][j::workers].ravel())  # [nb, B]
                plan, tags = plans[epoch]
                yield self.make_batch(fetcher, plan, epoch, j, tags)
                self.bytes_read = fetcher.bytes_read
        finally:
            fetcher.close()

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(positions [nb, B], layout id [nb])`` of this rank's ``epoch`` (``training.plan``)."""
        return plan_layouts(self.index.counts(), self.index.layout_ids(), self.stream, epoch, self.rank, self.world)

    def make_batch(self, fetcher: Fetcher, plan: np.ndarray, epoch: int, j: int, tags: np.ndarray | None = None) -> dict:
        """Batch ``j`` of the rank's epoch ``plan`` ``[nb, B]``; broken samples are replaced.

        A slot whose sample fails (undecodable bytes, bad JSON, wrong band count) gets another
        sample of the same batch, augmented and masked with the broken slot's own draws, so the
        batch stays full, every rank yields the same batch count (DDP) and a resumed run sees
        the same batch. Should the whole batch be broken, the donor is the first decodable
        sample of the following batches of the plan. The batch's ``"skipped"`` names the
        replaced samples (``shard#key``) so the trainer can count them.
        """
        positions = plan[j]
        layout = 0 if tags is None else int(tags[j])
        fragments = fetcher.fetch(positions)
        into = _png_batch_buffer(fragments, self.shared_buffers) if self.spec.on_device else None
        samples, skipped = [], []
        for i, fragment in enumerate(fragments):
            slot = None if into is None else into[1][i]
            sample = self._sample(fragment, self._rng(epoch, j, len(positions), i), layout, slot)
            if sample is None:
                skipped.append(self._name(int(positions[i]), fragment))
                log.warning("skipping broken sample %s (epoch %d batch %d): %s", skipped[-1], epoch, j,
                            self._last_error)
            samples.append(sample)
        if skipped:
            samples = self._fill(fetcher, plan, epoch, j, fragments, samples, tags)
        if self.spec.on_device:
            samples = _stackable(samples, self.spec.augment.img_size)
        shapes = {s[4] for s in samples}
        if len(shapes) > 1:  # only a shard list without catalog can get here (no layouts known)
            raise ValueError(f"a batch mixes sample shapes {sorted(shapes)}: train from a corpus catalog, "
                             "which says each sample's band layout")
        if samples[0][1].ndim == 1:  # encoded JPEGs, decoded on the device by ``prepare``
            _release(into)
            pixels = {"jpeg": torch.from_numpy(np.concatenate([s[1] for s in samples])),
                      "jpeg_sizes": torch.tensor([len(s[1]) for s in samples])}
        else:
            tiles = [s[1] for s in samples]
            pixels = {"image": _stacked(tiles, shapes.pop(), self.shared_buffers, into)}  # [B, H, W, C] sample dtype
        if self.spec.on_device:
            extra = {"draws": torch.from_numpy(np.stack([s[2] for s in samples])),  # [B, 7]
                     "mask_seed": int(np.random.default_rng(  # the batch's own stream: "mask"
                         [self.stream.seed, 0x6D61736B, epoch, self.rank, j]).integers(1 << 62))}
        else:
            extra = {"mask": torch.from_numpy(np.stack([s[2] for s in samples]))}  # [B, H, W]
        return {
            **pixels,
            **extra,
            "mean": torch.tensor(np.stack([s[3].mean for s in samples]), dtype=torch.float32),  # [B, C]
            "std": torch.tensor(np.stack([s[3].std for s in samples]), dtype=torch.float32),  # [B, C]
            "key": [s[0] for s in samples],
            "skipped": skipped,
            "epoch": epoch,
            "batch": j,
            "layout": layout,  # index into the run's layouts: all samples of a batch share it
        }

    def _rng(self, epoch: int, j: int, batch: int, i: int) -> np.random.Generator:
        return sample_rng(self.stream, epoch, self.rank, j * batch + i)

    def _fill(self, fetcher: Fetcher, plan: np.ndarray, epoch: int, j: int, fragments: list, samples: list,
              tags: np.ndarray | None = None) -> list:
        """Broken slots redrawn from the batch's good fragments (or a spare of the plan)."""
        layout = 0 if tags is None else int(tags[j])
        donors = [f for f, s in zip(fragments, samples) if s is not None]
        if not donors:
            donors = [self._spare(fetcher, plan, j, tags)]
        out, k = [], 0
        for i, sample in enumerate(samples):
            for _ in range(len(donors) if sample is None else 0):  # a donor decoded once already
                sample = self._sample(donors[k % len(donors)], self._rng(epoch, j, len(samples), i), layout)
                k += 1
                if sample is not None:
                    break
            if sample is None:
                raise RuntimeError(f"no replacement decodes for a broken sample of batch {j}: {self._last_error}")
            out.append(sample)
        return out

    def _spare(self, fetcher: Fetcher, plan: np.ndarray, j: int, tags: np.ndarray | None = None):
        """The first decodable fragment of the batches after ``j`` of its layout (wrapping round the plan)."""
        layout = 0 if tags is None else int(tags[j])
        for step in range(1, len(plan)):
            if tags is not None and tags[(j + step) % len(plan)] != layout:
                continue
            for position in plan[(j + step) % len(plan)]:
                fragment = fetcher.fetch(np.array([position]))[0]
                if self._sample(fragment, np.random.default_rng(0), layout) is not None:
                    return fragment
        raise RuntimeError(f"no sample of this rank's epoch plan decodes ({plan.size} tried): "
                           "the shards are corrupt or not in the sample format")

    def _name(self, position: int, fragment) -> str:
        """``shard#key`` (or ``shard@offset`` when not even the tar header parses) for warnings."""
        url = self.index.urls[int(self.index.shard[position])]
        try:
            return f"{url}#{parse_fragment(fragment)['__key__']}"
        except Exception:
            return f"{url}@{int(self.index.offset[position])}"

    def _sample(self, fragment, rng: np.random.Generator, layout: int = 0, slot: np.ndarray | None = None):
        """``(key, pixels, mask or draws, stats, shape)`` of one sample, None when it is broken.

        On the CPU path ``pixels`` is the augmented tile ``[S, S, C]`` and ``shape`` its shape;
        on the device path it is what the device needs of the tile (its top rows down to the
        crop, or a JPEG's bytes), with its draws, and ``shape`` the tile's ``(H, W, C)``; a PNG
        tile that fits ``slot`` (its place in the batch buffer) is decoded into it.
        """
        try:
            cfg = self.spec.augment
            member = image_member(fragment)
            header = device_jpeg_header(member) if self.spec.on_device and self.spec.device_jpeg else None
            if header is not None:  # only the header is read here: the device decodes the bytes
                key, meta, _, payload = member
                pixels, shape = np.frombuffer(bytes(payload), dtype=np.uint8), header
                extra = draw(shape[0], shape[1], cfg, rng)
            elif self.spec.on_device:
                key, pixels, meta, extra, size = decode_drawn(member, cfg, rng, reduced_jpeg=False, out=slot)
                shape = (*size, pixels.shape[2])
            else:
                key, image, meta, draws, _ = decode_drawn(member, cfg, rng, self.spec.reduced_jpeg)
                pixels = apply_draws(image, draws, cfg.img_size)
                shape, extra = pixels.shape, generate_mask(cfg.img_size, self.spec.mask, rng)  # [S, S]
            known = self.layouts[layout] if self.layouts else None
            bands = known.bands if known is not None else self.spec.bands
            if bands is not None and shape[2] != bands:
                raise SampleError(f"{shape[2]} bands where its catalog layout has {bands}")
            stats = known.stats if known is not None else self.stats.for_sample(meta, shape[2])
            if pixels.dtype not in _TRANSPORT:
                pixels = pixels.astype(np.float32)
            return key, pixels, extra, stats, tuple(shape)
        except Exception as exc:
            if self.spec.on_error == "raise":
                raise
            self._last_error = exc
            return None


_TRANSPORT = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def device_jpeg_header(member: tuple) -> tuple[int, int, int] | None:
    """``(H, W, C)`` of an image member that the device decodes (a grey or RGB JPEG), else None."""
    _, _, ext, payload = member
    header = jpeg_header(payload) if ext in ("jpg", "jpeg") else None
    return header if header is not None and header[2] in (1, 3) else None


def _stackable(samples: list, size: int) -> list:
    """Device-path samples that stack into one batch: when tile sizes differ, each is cropped
    on the CPU after all (with draws that then leave it unchanged); when only some are encoded
    JPEGs, those are decoded here."""
    if len({s[4] for s in samples}) > 1:
        return [_cropped(s, size) for s in samples]
    if len({s[1].ndim for s in samples}) > 1:
        return [_decoded(s) if s[1].ndim == 1 else s for s in samples]
    return samples


def _decoded(sample: tuple) -> tuple:
    key, payload, draws, stats, shape = sample
    return key, decode_image(payload.tobytes(), "jpg"), draws, stats, shape


def _cropped(sample: tuple, size: int) -> tuple:
    """A device-path sample cropped on the CPU after all: the tile with its draws applied, and
    draws that leave it unchanged."""
    key, pixels, draws, stats, shape = _decoded(sample) if sample[1].ndim == 1 else sample
    tile = np.ascontiguousarray(apply_draws(pixels, draws, size))
    return key, tile, identity_draws(size), stats, tile.shape


def _png_batch_buffer(fragments: list, buffers: int = DEFAULT_SLOTS) -> tuple | None:
    """A device-path batch buffer (:func:`_batch_buffer`) shaped by the first sample's PNG
    header, so each tile is decoded straight into its slot instead of copied there; None when
    that sample is not a PNG the loader decodes (the batch is then stacked by copying)."""
    try:
        _, _, ext, payload = image_member(fragments[0])
    except Exception:  # a broken first sample: make_batch names it
        return None
    found = png_array(payload) if ext == "png" else None
    return None if found is None else _batch_buffer((len(fragments), *found[0]), found[1], buffers)


def _batch_buffer(full: tuple, dtype: np.dtype, buffers: int = DEFAULT_SLOTS) -> tuple:
    """``(shipped, view)``: an uninitialized ``full``-shaped batch and its numpy view. Inside a
    loader worker it is one of the worker's reused shared-memory buffers
    (:mod:`training.shared_batches`), so the batch crosses to the training process without
    another copy or new memory; it unpickles there as the tensor."""
    if get_worker_info() is None:  # numpy's memory: torch's empty would start OpenMP threads here
        out = torch.from_numpy(np.empty(full, dtype=dtype))
        return out, out.numpy()
    shipped = shared_batch(full, torch.from_numpy(np.empty(0, dtype=dtype)).dtype, buffers)
    return shipped, shipped.tensor.numpy()


def _release(buffer: tuple | None) -> None:
    """Hand back a :func:`_batch_buffer` that is not shipped after all."""
    if buffer is not None and isinstance(buffer[0], Leased):
        buffer[0].release()


def _stacked(tiles: list[np.ndarray], shape: tuple, buffers: int = DEFAULT_SLOTS,
             into: tuple | None = None) -> torch.Tensor | Leased:
    """``[B, *shape]`` of ``tiles``, each filling its slot's top rows (a tile decoded only down to
    its crop leaves zeros below), in ``into`` (the buffer the tiles were decoded into) when it
    fits, else in a new :func:`_batch_buffer`. A tile already in its slot is not copied."""
    full = (len(tiles), *shape)
    if into is not None and (into[1].shape != full or into[1].dtype != tiles[0].dtype):
        _release(into)
        into = None
    shipped, view = into or _batch_buffer(full, tiles[0].dtype, buffers)
    for slot, tile in zip(view, tiles):
        if tile.__array_interface__["data"][0] != slot.__array_interface__["data"][0]:
            slot[: tile.shape[0]] = tile
        slot[tile.shape[0]:] = 0  # a reused buffer holds an earlier batch
    return shipped


def decode_jpeg_batch(batch: dict, device) -> torch.Tensor:
    """``[B, C, H, W]`` uint8 on ``device`` from a batch's encoded JPEGs (nvJPEG on CUDA,
    libjpeg-turbo on the CPU, both through torchvision). A JPEG that does not decode is replaced
    by another of the batch (its slot keeps its own draws) and named in ``batch["skipped"]``,
    as the workers do with broken samples."""
    import warnings

    from torchvision.io import ImageReadMode
    from torchvision.io import decode_jpeg as _decode_jpeg

    def decode_jpeg(*args, **kwargs):  # torchvision 0.29 warns of TorchCodec on every call
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return _decode_jpeg(*args, **kwargs)

    payloads = list(torch.split(batch["jpeg"], batch["jpeg_sizes"].tolist()))
    channels = jpeg_header(payloads[0].numpy())[2]
    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    try:
        return torch.stack(decode_jpeg(payloads, mode=mode, device=device))
    except RuntimeError:  # one of them is broken: decode one by one
        images = []
        for key, payload in zip(batch["key"], payloads):
            try:
                images.append(decode_jpeg(payload, mode=mode, device=device))
            except RuntimeError as exc:
                log.warning("skipping broken sample %s: cannot decode jpg on %s: %s", key, device, exc)
                batch["skipped"].append(key)
                images.append(None)
        donors = [image for image in images if image is not None]
        if not donors:
            raise RuntimeError(f"no JPEG of the batch decodes on {device} (keys {batch['key']})")
        return torch.stack([image if image is not None else donors[i % len(donors)] for i, image in enumerate(images)])


def prepare(batch: dict, device: str | torch.device = "cpu", channels_last: bool = False,
            spec: SampleSpec | None = None):
    """``(image [B, C, H, W] float32 standardized per band, mask [B, H, W])`` on ``device``.

    Workers ship tiles in their sample dtype, channels-last (4x fewer bytes than float32 for
    uint8); the float conversion and the per-sample band standardization run here, on the
    accelerator. ``channels_last`` keeps the NHWC memory layout the permute gives for free.
    A batch of an ``on_device`` stream (full tiles + draws) is cropped, resized, flipped and
    masked here too, batched, with ``spec``'s sizes.
    """
    if "jpeg" in batch:  # an on_device stream's JPEG tiles, decoded here
        image = decode_jpeg_batch(batch, device).float()  # [B, C, H, W]
    else:
        raw = batch["image"].to(device, non_blocking=True)  # [B, H, W, C]
        image = raw.permute(0, 3, 1, 2).float()  # [B, C, H, W], NHWC in memory
    if "draws" in batch:
        if spec is None:
            raise ValueError("a batch of full tiles (on_device stream) needs the stream's SampleSpec")
        image = augment_batch(image, batch["draws"], spec.augment.img_size)  # [B, C, S, S]
        generator = torch.Generator(device=image.device).manual_seed(batch["mask_seed"])
        mask = mask_batch(len(image), spec.augment.img_size, spec.mask, generator, image.device)
    else:
        mask = batch["mask"].to(device, non_blocking=True)
    image = standardize_batch(image, batch["mean"].to(device, non_blocking=True),  # [B, C] each
                              batch["std"].to(device, non_blocking=True))
    if not channels_last:
        image = image.contiguous()
    return image, mask


def open_source(corpus: str | None = None, shards=None, query=None, cache_dir: str | None = None,
                estimate_from: int = 64) -> tuple[SampleIndex, StatsTable]:
    """The sample index and normalization statistics of a corpus query or a shard list."""
    if (corpus is None) == (shards is None):
        raise ValueError("give exactly one of corpus (a catalog query) or shards (URLs)")
    if corpus is not None:
        index = index_from_catalog(corpus, query)
    else:
        index = index_from_shards(shards, cache_dir)
        corpus = corpus_of_shards(index.urls)
    stats = stats_from_manifest(corpus) if corpus else {}
    if not stats:
        stats = estimate_stats(_decodable(index, min(estimate_from, len(index))))
    return index, StatsTable(stats)


def _worker_init(_: int) -> None:
    """One thread per worker: the workers are the parallelism (OpenCV/torch would oversubscribe)."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def make_loader(dataset: MimStream, num_workers: int = 0, pin_memory: bool = False,
                prefetch_factor: int = 2, start_method: str = "forkserver") -> DataLoader:
    """A ``DataLoader`` over whole batches (call ``dataset.set_position`` before each ``iter``).

    It gets its own generator: the default would draw worker seeds from the global torch RNG,
    shifting the model's dropout/drop-path draws whenever an iterator is created (on resume).
    Workers start from a fork server, not a fork of this process: a caller that ran threads
    (a Dask client, GDAL, a progress bar) could otherwise leave a lock held in the child forever.
    (``start_method="fork"`` suits a single-threaded caller that wants workers as its children,
    e.g. a benchmark counting their CPU time.) Each worker reuses ``prefetch_factor`` + 2 batch
    buffers (:mod:`training.shared_batches`).
    """
    dataset.shared_buffers = prefetch_factor + 2
    extra = {"prefetch_factor": prefetch_factor, "worker_init_fn": _worker_init,
             "multiprocessing_context": start_method} if num_workers else {}
    return DataLoader(dataset, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=False, generator=torch.Generator().manual_seed(0), **extra)


def run_layouts(index: SampleIndex, corpus: str | None, estimate_from: int = 64) -> tuple[RunLayout, ...]:
    """The run's layouts in index layout-id order (``()`` for an index without catalog layouts)."""
    records = (read_manifest(corpus).get("stats") or {}) if corpus else {}
    ids, out = index.layout_ids(), []
    for i, key in enumerate(index.layouts):
        positions = np.flatnonzero(ids == i)
        bands = index.band_counts[i] if index.band_counts and index.band_counts[i] else \
            probe_bands(index, among=positions)
        out.append(resolve_layout(key, bands, records, len(positions),
                                  lambda p=positions: estimate(_decodable(index, estimate_from, among=p))))
    return tuple(out)


def probe_bands(index: SampleIndex, tries: int = 64, among: np.ndarray | None = None) -> int:
    """Band count of the first decodable sample (the model's input channels)."""
    for _, image, _ in _decodable(index, min(tries, len(index)), stop_at_first=True, among=among):
        return int(image.shape[2])
    raise ValueError(f"none of the first {min(tries, len(index))} samples decodes")


def _decodable(index: SampleIndex, count: int, stop_at_first: bool = False, among: np.ndarray | None = None) -> list:
    """The decoded samples among the first ``count`` of the index, or of its positions ``among``
    (broken ones skipped).

    ``stop_at_first`` fetches one sample at a time: a band probe of a remote corpus must not
    download ``count`` samples to look at one.
    """
    fetcher, out = Fetcher(index), []
    among = np.arange(len(index)) if among is None else among
    count = min(count, len(among))
    step = 1 if stop_at_first else max(count, 1)
    try:
        for start in range(0, count, step):
            positions = among[start : min(start + step, count)]
            for position, fragment in zip(positions, fetcher.fetch(positions)):
                try:
                    out.append(decode_sample(fragment))
                except Exception as exc:
                    log.warning("skipping broken sample %s at offset %d: %s",
                                index.urls[int(index.shard[position])], int(index.offset[position]), exc)
                    continue
                if stop_at_first:
                    return out
    finally:
        fetcher.close()
    return out
