"""Config dataclass fields are the one declaration of every setting: YAML key, CLI flag and help.

A field made with :func:`option` carries its help text (and, where the flag differs from the
field name, its flag) in ``dataclasses.field(metadata=...)``; :func:`add_options` turns the
fields of a config class into argparse flags, :func:`load_config` fills the class from its
defaults < a flat YAML file < the flags given. ``ringmo build``/``curate`` (``BuildConfig``),
the catalog selection of ``ringmo query`` and of the trainer (``catalogs.query.Query``) and the
trainer's commands (``PretrainConfig``, ``FinetuneConfig``) all go through here, so a new
setting is one new field.

This lives in ``catalogs`` (which imports nothing of ours) because both ``training`` and
``workflows`` generate flags from it and the selection flags are part of the contract between
the corpus and the trainer.

Metadata keys (all optional but ``help``):

- ``flag``: the flag when it is not ``--field-name`` (``--sensor`` for ``sensors``);
- ``repeat``: a repeatable flag collected into a tuple (``--sensor a --sensor b``);
- ``group``: the argparse group title the flag is listed under;
- ``choices``: the allowed values;
- ``cli``: False for YAML-only settings (no flag);
- ``fixed``: the setting is fixed for the life of its output (a corpus's tiling settings, a
  pretraining run's model and mask): changing it needs a new output, not a resume;
- ``commands``: the only commands that get the flag (e.g. ``("build",)``), default all.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from catalogs.errors import ConfigError

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, help: str = "", flag: str | None = None, repeat: bool = False,
           *, group: str | None = None, choices: tuple | None = None, cli: bool = True, fixed: bool = False,
           commands: tuple[str, ...] | None = None, metavar: str | None = None) -> Any:
    """A config field whose metadata drives its CLI flag (see the module docstring)."""
    metadata = {"help": help, "flag": flag, "repeat": repeat, "group": group, "choices": choices, "cli": cli,
                "fixed": fixed, "commands": commands, "metavar": metavar}
    return dataclasses.field(default=default, metadata=metadata)


def fixed_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields marked ``fixed`` (settings a resumed output must keep)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("fixed"))


def _kind(annotation: Any) -> tuple[type, bool]:
    """(scalar type, is a tuple) of a field annotation such as ``tuple[float, ...] | None``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(options[0])
    if origin is tuple:
        return typing.get_args(annotation)[0], True
    if annotation in (int, float, bool, str):
        return annotation, False
    raise TypeError(f"no CLI flag for a field of type {annotation}")


def _comma_list(kind: type):
    """argparse ``type`` for "1,2,3" (or one value): a tuple of ``kind``."""
    def parse(text: str) -> tuple:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    parse.__name__ = f"{kind.__name__} list"  # argparse names it in "invalid ... value"
    return parse


def cli_fields(cls: type, command: str | None = None) -> list[dataclasses.Field]:
    """The fields of ``cls`` that have a flag (for ``command``, when the field names commands)."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", False)
            and (command is None or f.metadata.get("commands") in (None, ()) or command in f.metadata["commands"])]


def add_options(parser: argparse.ArgumentParser, cls: type, *, command: str | None = None,
                include=lambda f: True) -> None:
    """One flag per flagged field of ``cls`` (``include`` filters them). Unset flags are None.

    Booleans get ``--x/--no-x``; repeatable fields ``append``; other tuples take one or more
    values, each possibly comma-separated (``--bbox 1 2 3 4`` or ``--bbox=1,2,3,4``).
    """
    hints = typing.get_type_hints(cls)
    groups: dict[str, Any] = {}
    for f in cli_fields(cls, command):
        if not include(f):
            continue
        meta = f.metadata
        title = meta.get("group")
        target = parser if title is None else groups.setdefault(title, parser.add_argument_group(title))
        kind, is_tuple = _kind(hints[f.name])
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        extra = {"dest": f.name, "default": None, "help": meta["help"].replace("%", "%%")}  # argparse %-formats help
        if meta.get("metavar") or meta.get("flag"):  # --sensor SENSOR, not SENSORS (the field's name)
            extra["metavar"] = meta.get("metavar") or flag.lstrip("-").replace("-", "_").upper()
        if kind is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **extra)
        elif meta.get("repeat"):
            target.add_argument(flag, action="append", type=kind, choices=meta.get("choices"), **extra)
        elif is_tuple:
            target.add_argument(flag, nargs="+", type=_comma_list(kind), **extra)
        else:
            target.add_argument(flag, type=kind, choices=meta.get("choices"), **extra)


def _flatten(value: Any) -> Any:
    """``nargs="+"`` of comma-split parts (a list of tuples) becomes one flat tuple; lists tuples."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return tuple(x for part in value for x in part)
    return tuple(value) if isinstance(value, list) else value


def values_from(args: argparse.Namespace, cls: type) -> dict:
    """The flags of ``cls`` that were given (None means not given), as field values."""
    return {f.name: _flatten(getattr(args, f.name)) for f in cli_fields(cls)
            if getattr(args, f.name, None) is not None}


def _coerce(value: Any, annotation: Any) -> Any:
    """YAML/CLI values into the field's type (lists into tuples; None stays None)."""
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _coerce(value, options[0]) if len(options) == 1 else value
    if origin is tuple or annotation is tuple:
        args = typing.get_args(annotation)
        items = [value] if isinstance(value, (str, int, float, dict)) else list(value)
        if args and args[-1] is not Ellipsis and len(args) == len(items):
            return tuple(_coerce(v, a) for v, a in zip(items, args))
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner) for v in items)
    if annotation in (int, float) and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return annotation(value)
    if annotation is bool and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


def read_config_file(file: str | Path, cls: type) -> dict:
    """The settings of a flat YAML file, refusing keys that are not fields of ``cls``."""
    try:
        loaded = yaml.safe_load(Path(file).read_text())
    except FileNotFoundError:
        raise ConfigError(str(file), "no such config file") from None
    except yaml.YAMLError as error:
        raise ConfigError(str(file), f"not valid YAML ({' '.join(str(error).split())})") from None
    loaded = loaded or {}
    if not isinstance(loaded, dict):
        raise ConfigError(str(file), "a config file is a flat YAML mapping of setting: value")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(loaded) - names)
    if unknown:
        raise ConfigError(str(file), f"unknown setting(s) {unknown}; known: {sorted(names)}")
    return loaded


def load_config(cls: type[T], file: str | Path | None = None, **overrides: Any) -> T:
    """``cls`` from its defaults, then ``file`` (YAML), then non-None ``overrides`` (CLI flags)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = dict(read_config_file(file, cls)) if file else {}
    unknown = sorted(set(overrides) - set(hints))
    if unknown:
        raise ConfigError("config", f"unknown setting(s) {unknown}")
    values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    try:
        coerced = {k: _coerce(v, hints[k]) for k, v in values.items()}
    except (TypeError, ValueError) as error:
        raise ConfigError(str(file or "config"), f"a setting has the wrong type ({error})") from None
    missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and f.name not in coerced]
    if missing:
        raise ConfigError(" ".join("--" + n.replace("_", "-") for n in missing), "required")
    return cls(**coerced)
