"""The README's CLI reference, rendered from the real argparse parsers of every ``ringmo`` command.

Hand-written option lists drift from the code; this one cannot, because ``--check`` (and a test)
fails as soon as README.md differs from what the parsers say. The reference sits between two
markers in README.md; everything outside them is left alone.

    python -m workflows.cli_reference           # rewrite the reference in README.md
    python -m workflows.cli_reference --check   # exit 1 if README.md is stale
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"
WIDTH = 100  # usage lines are wrapped at a fixed width, not the terminal's, so output is stable


@dataclass(frozen=True)
class Source:
    """Where one command's parser comes from and where its unset flags take their value.

    ``config`` is the dataclass that a flag left unset falls back to (flags named after its
    fields); ``inherited`` replaces that dataclass default when the value comes from elsewhere
    (``ringmo curate`` keeps the corpus's recorded settings).
    """

    parser: Callable[[], argparse.ArgumentParser]
    config: type | None = None
    inherited: str | None = None


def _sources() -> dict[str, Source]:
    """Every subcommand of ``ringmo``: the trainer's commands own their flags in ``training``."""
    from catalogs.query import Query
    from training import config as pretrain_config, evaluate, export, finetune
    from workflows import cli
    from workflows.build_config import BuildConfig

    sub = _subparsers(cli.parser())
    sources = {name: Source(lambda p=p: p) for name, p in sub.choices.items()}
    sources["build"] = Source(lambda: sub.choices["build"], BuildConfig)
    sources["curate"] = Source(lambda: sub.choices["curate"], BuildConfig, inherited="as built")
    sources["query"] = Source(lambda: sub.choices["query"], Query)
    sources["pretrain"] = Source(lambda: pretrain_config.build_parser("ringmo pretrain"),
                                 pretrain_config.PretrainConfig)
    sources["finetune"] = Source(lambda: finetune.build_parser("ringmo finetune"), finetune.FinetuneConfig)
    sources["evaluate"] = Source(lambda: evaluate.build_parser("ringmo evaluate"))
    sources["export"] = Source(lambda: export.build_parser("ringmo export"))
    return sources


def _task_sources() -> dict[str, tuple[str, Source]]:
    """Fine-tuning tasks other than classification: their own flags, under ``ringmo finetune --task``."""
    from training.tasks import detection

    return {"finetune --task detection": (
        "fine-tune a horizontal (hbb) or oriented (obb) box detector on a detection corpus",
        Source(lambda: detection.build_parser("ringmo finetune --task detection"), detection.DetectionConfig))}


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _cell(text: str, code: bool = False) -> str:
    """Markdown table cell: one line, pipes escaped (GFM needs that inside code spans too) and,
    outside code spans, ``<`` escaped so that help text never opens an HTML tag."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if code else text.replace("<", "&lt;")


def _value(value) -> str:
    if value is None or value in ((), [], ""):
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return "`" + ",".join(str(v) for v in value) + "`"
    return f"`{value}`"


def _default(action: argparse.Action, source: Source) -> str:
    """What the command uses when the flag is not given."""
    if action.required:
        return "required"
    fields = {f.name: f for f in dataclasses.fields(source.config)} if source.config else {}
    field = fields.get(action.dest)
    if action.default in (None, argparse.SUPPRESS) and field is not None:
        if source.inherited:
            return source.inherited
        if field.default is not dataclasses.MISSING:
            return _value(field.default)
        if field.default_factory is not dataclasses.MISSING:
            return _value(field.default_factory())
        return "required"
    if action.default is argparse.SUPPRESS:
        return "-"
    if isinstance(action, argparse._StoreTrueAction) and action.default is None:
        return "off"
    return _value(action.default)


def _help(action: argparse.Action, prog: str) -> str:
    if not action.help:
        return ""
    params = {**vars(action), "prog": prog}
    if isinstance(params.get("choices"), (list, tuple)):
        params["choices"] = ", ".join(map(str, params["choices"]))
    return action.help % params  # argparse's own %-expansion (%(default)s, %%)


def _invocation(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._format_action_invocation(action)


def usage(parser: argparse.ArgumentParser) -> str:
    """``usage: PROG [options] POSITIONALS``: the options are all in the table below it."""
    shown = [a for a in parser._actions if a.required or not a.option_strings]
    formatter = argparse.HelpFormatter(prog=f"{parser.prog} [options]", width=WIDTH)
    formatter.add_usage(None, shown, [])
    return formatter.format_help().strip()


def options_table(parser: argparse.ArgumentParser, source: Source) -> str:
    rows = ["| option | default | description |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        rows.append(f"| `{_cell(_invocation(parser, action), code=True)}` | {_cell(_default(action, source))} "
                    f"| {_cell(_help(action, parser.prog))} |")
    return "\n".join(rows)


def command_section(name: str, summary: str, source: Source) -> str:
    parser = source.parser()
    parts = [f"<details><summary><code>ringmo {name}</code>: {summary}</summary>", "",
             "```text", usage(parser), "```", ""]
    if parser.description:
        parts += [" ".join(parser.description.split()), ""]
    parts += [options_table(parser, source), "", "</details>"]
    return "\n".join(parts)


def render() -> str:
    """The Markdown that goes between the markers: a command list, then each command's flags."""
    from workflows import cli

    sub = _subparsers(cli.parser())
    # the trainer commands' one-line help points at --help for flags, which are listed here
    summaries = {a.dest: re.sub(r"\s*\(flags: see [^)]*\)$", "", a.help or "") for a in sub._choices_actions}
    sources = _sources()
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `ringmo {name}` | {_cell(summaries.get(name, ''))} |" for name in sub.choices]
    sections = [command_section(name, _cell(summaries.get(name, "")), sources[name]) for name in sub.choices]
    for name, (summary, source) in _task_sources().items():  # `ringmo finetune --task X` owns its flags
        lines.append(f"| `ringmo {name}` | {_cell(summary)} |")
        sections.append(command_section(name, _cell(summary), source))
    return "\n\n".join(["\n".join(lines), *sections])


def replace_between_markers(text: str, body: str) -> str:
    """``text`` with everything between the two markers replaced by ``body``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"README needs exactly one {START} followed by one {END}")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{body}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.cli_reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README reference is stale")
    parser.add_argument("--readme", type=Path, default=README, help="the file holding the markers")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    updated = replace_between_markers(text, render())
    if args.check:
        if updated != text:
            print(f"{args.readme}: CLI reference is stale; run python -m workflows.cli_reference", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        args.readme.write_text(updated, encoding="utf-8")
        print(f"updated the CLI reference in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
