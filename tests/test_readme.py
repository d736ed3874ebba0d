"""The README's Python API examples run as written, in order, on the built-in sample scenes:
in-process, and pasted into one script file run by a fresh interpreter (as a user runs them:
that is where a missing ``if __name__ == "__main__":`` guard breaks the LocalCluster build)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workflows.samples import write_sample_scenes

README = Path(__file__).resolve().parents[1] / "README.md"


def api_examples() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_build_query_and_loader_examples():
    code = "\n".join(api_examples())
    assert "build(BuildConfig(" in code and "to_geodataframe(" in code and "make_loader(" in code


@pytest.mark.slow
def test_readme_api_examples_run(tmp_path, monkeypatch, capsys):
    write_sample_scenes(tmp_path / "raw", seed=0, scale=0.25)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for block in api_examples():
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["summary"]["tiles"]["kept"] > 0
    assert len(namespace["frame"]) > 0 and len(namespace["ranges"]) == len(namespace["frame"])
    images, masks = namespace["images"], namespace["masks"]
    assert images.shape[1:] == (3, 96, 96) and 0.2 < float(masks.float().mean()) < 0.6


#: appended to the script: what the in-process test reads from the namespace, as one JSON line
_REPORT = """
if __name__ == "__main__":
    import json
    print("README-CHECK " + json.dumps({"kept": summary["tiles"]["kept"], "frame": len(frame),
                                        "ranges": len(ranges), "shape": list(images.shape[1:]),
                                        "masked": float(masks.float().mean())}))
"""


@pytest.mark.slow
def test_readme_api_examples_run_as_a_script(tmp_path):
    write_sample_scenes(tmp_path / "raw", seed=0, scale=0.25)
    script = tmp_path / "example.py"
    script.write_text("\n".join(api_examples()) + _REPORT)
    env = {**os.environ, "PYTHONPATH": str(README.parent)}  # this checkout, whatever is installed
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = next(line for line in done.stdout.splitlines() if line.startswith("README-CHECK "))
    found = json.loads(report.split(" ", 1)[1])
    assert found["kept"] > 0 and found["frame"] > 0 and found["ranges"] == found["frame"]
    assert found["shape"] == [3, 96, 96] and 0.2 < found["masked"] < 0.6
