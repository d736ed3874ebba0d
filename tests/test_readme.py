"""The README's Python API examples run as written, in order, on the built-in sample scenes."""

from __future__ import annotations

import re
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
