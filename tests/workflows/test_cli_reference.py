"""The README's CLI reference is the parsers' own description, and stays so."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from workflows import cli
from workflows.cli_reference import END, README, START, _sources, main, render, replace_between_markers


@pytest.fixture(scope="module")
def reference() -> str:
    return render()


def test_readme_reference_is_up_to_date(reference):
    text = README.read_text(encoding="utf-8")
    assert replace_between_markers(text, reference) == text, (
        "README.md's CLI reference is stale: run `python -m workflows.cli_reference`")


def test_every_command_and_option_is_in_the_reference(reference):
    top = cli.parser()
    commands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices
    sources = _sources()
    assert set(sources) == set(commands)
    for name, source in sources.items():
        assert f"<code>ringmo {name}</code>" in reference
        for action in source.parser()._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in reference or f", {flag}" in reference, f"ringmo {name} {flag}"


def test_every_option_and_argument_of_every_command_has_help():
    missing = [f"ringmo {name} {action.option_strings or action.dest}"
               for name, source in _sources().items() for action in source.parser()._actions
               if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
    assert not missing, f"options without help: {missing}"


def test_build_usage_lists_the_inputs_then_the_corpus(reference):
    assert "usage: ringmo build [options] INPUT [INPUT ...] CORPUS\n" in _section(reference, "build")


def _section(reference: str, name: str) -> str:
    return reference.split(f"<code>ringmo {name}</code>")[1].split("</details>")[0]


def _field_default(config, name: str):
    return next(f.default for f in dataclasses.fields(config) if f.name == name)


def test_defaults_come_from_the_config_a_flag_falls_back_to(reference):
    from training.config import PretrainConfig
    from workflows.build_config import BuildConfig

    tile_size = _field_default(BuildConfig, "tile_size")
    assert f"| `--tile-size TILE_SIZE` | `{tile_size}` |" in _section(reference, "build")
    assert "| `--alpha ALPHA` | as built |" in _section(reference, "curate")  # the corpus's own settings
    rot90 = "on" if _field_default(PretrainConfig, "rot90") else "off"
    assert f"| `--rot90, --no-rot90` | {rot90} |" in _section(reference, "pretrain")
    steps = next(a.default for a in _sources()["demo"].parser()._actions if a.dest == "steps")
    assert f"| `--steps STEPS` | `{steps}` |" in _section(reference, "demo")  # argparse's own default


def test_check_fails_on_a_stale_readme_and_the_rewrite_fixes_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{START}\nold listing\n{END}\nafter\n", encoding="utf-8")
    assert main(["--check", "--readme", str(readme)]) == 1
    assert main(["--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "old listing" not in text and text.startswith("# title\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert main(["--check", "--readme", str(readme)]) == 0


@pytest.mark.parametrize("text", ["no markers", f"{END}\n{START}\n", f"{START}\n{START}\n{END}\n"])
def test_misplaced_markers_are_refused(text):
    with pytest.raises(ValueError, match="README needs"):
        replace_between_markers(text, "body")
