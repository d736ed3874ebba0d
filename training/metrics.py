"""Training metrics as JSON lines (one object per logged step) and a timer for data waits.

On resume the log is cut back to the checkpoint's step first: steps a killed run logged after
its last checkpoint are run again, and the file must not hold them twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from catalogs.store import write_atomic


class JsonlLog:
    def __init__(self, path: str | Path, resume_step: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate(resume_step)
        self.handle = open(self.path, "a", encoding="utf-8")

    def _truncate(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        write_atomic(self.path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict) -> None:
        self.handle.write(json.dumps(record, sort_keys=True) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def read_jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


class Throughput:
    """Images/s and the fraction of wall time spent waiting for the loader, per window."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.start = time.perf_counter()
        self.wait = 0.0
        self.images = 0

    def waited(self, seconds: float) -> None:
        self.wait += seconds

    def add(self, images: int) -> None:
        self.images += images

    def summary(self) -> dict:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        return {"img_s": self.images / elapsed, "data_wait": self.wait / elapsed}
