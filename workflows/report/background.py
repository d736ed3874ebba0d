"""A build's report figures, drawn in a helper process while the build writes its shards.

Matplotlib holds the GIL for its whole draw: in a thread of the build it slowed the packing it
overlapped as much as it saved (the 2048-tile benchmark: pack 1.4 -> 2.8 s, report 1.5 -> 0 s).
A process of its own, started once the inputs are listed (its imports are paid while scenes
are tiled), draws on a core the packing leaves idle, from the curated table the build has just
written. A small build draws its figures at the end instead: starting an interpreter (about
1.5 CPU-seconds) would cost more than it saves; so does a build whose local workers keep
every core busy. A helper that fails costs nothing either: the
figures are then drawn at the end, as for a small build.

The helper is a fresh interpreter running this module (``python -m
workflows.report.background CORPUS``), not a ``multiprocessing`` child: those re-import the
caller's main script, which would run a user's unguarded build script a second time. It warms
matplotlib, waits for one ``draw`` line on stdin, and answers with one JSON line on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from catalogs.layout import CURATED
from catalogs.store import Store
from pipeline.scene import SourceRef
from pipeline.uris import is_remote, local_path

HELPER_MIN_INPUT_BYTES = 128 * 2**20  # below this the figures are drawn at the end, in the build's process


def input_bytes(refs: list[SourceRef]) -> float:
    """Bytes of the listed inputs (each band file of a product); remote inputs count as large."""
    total = 0.0
    for ref in refs:
        for uri in [member for _, member in ref.members] or [ref.uri]:
            if is_remote(uri) or uri.startswith("/vsi"):
                return float("inf")
            try:
                total += os.path.getsize(local_path(uri))
            except OSError:
                pass  # ingest reports it
    return total


class FigureDrawer:
    """Draws a build's figures in a helper process (:data:`HELPER_MIN_INPUT_BYTES` of inputs or
    more, on a local corpus); ``result()`` is ``None`` when the report must draw them itself."""

    def __init__(self, corpus: Store):
        self.corpus, self._helper, self._asked = corpus, None, False

    def __enter__(self) -> FigureDrawer:
        return self

    def __exit__(self, *exc) -> None:
        helper, self._helper = self._helper, None
        if helper is not None:
            for stream in (helper.stdin, helper.stdout):
                with contextlib.suppress(OSError):  # a dead helper: nothing left to flush to
                    stream.close()
            try:
                helper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()

    def start(self, refs: list[SourceRef] | None, spare_cores: int) -> None:
        """Start the helper (it imports and warms matplotlib) if the listed inputs are large and
        a core is left idle by the build's tasks (in process, or on a cluster elsewhere); with
        every core busy with workers it only takes their time (measured: no gain on 2 cores)."""
        if (self.corpus.local and refs is not None and spare_cores > 0
                and input_bytes(refs) >= HELPER_MIN_INPUT_BYTES):
            path = os.pathsep.join(p for p in sys.path if p)  # where this process found the project
            self._helper = subprocess.Popen(
                [sys.executable, "-m", __name__, self.corpus.root], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env={**os.environ, "PYTHONPATH": path})

    @property
    def drawn_here(self) -> bool:
        """Whether the build's own process draws the figures (no helper)."""
        return self._helper is None

    def draw(self) -> None:
        """Start drawing from ``CORPUS/staging/curated.parquet`` (call once it is written)."""
        if self._helper is not None:
            try:
                self._helper.stdin.write("draw\n")
                self._helper.stdin.flush()
                self._asked = True
            except OSError:  # the helper is gone: the report draws the figures itself
                pass

    def result(self):
        """The :class:`~workflows.report.DrawnFigures` drawn, or ``None`` (none asked for, or
        the helper failed)."""
        if self._helper is None or not self._asked:
            return None
        from workflows.report import DrawnFigures

        try:
            answer = json.loads(self._helper.stdout.readline())
        except (OSError, ValueError):
            return None
        return DrawnFigures({name: Path(p) for name, p in answer["paths"].items()}, answer["missing"])


def main(argv: list[str]) -> int:
    """The helper: warm up, wait for ``draw``, draw ``argv[0]``'s figures, print them as JSON."""
    from workflows.report import draw_curated_figures, warm_up

    warm_up()
    if sys.stdin.readline().strip() != "draw":
        return 0  # the build ended before it needed the figures
    store = Store(argv[0])
    drawn = draw_curated_figures(store.root, store.read_parquet(CURATED))
    print(json.dumps({"paths": {name: str(p) for name, p in drawn.paths.items()},
                      "missing": drawn.missing_thumbnails}), flush=True)
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    # no interpreter teardown (~0.3 s of freeing matplotlib and pandas): the build waits for
    # this process to end, and everything it wrote is already closed and renamed
    os._exit(status)
