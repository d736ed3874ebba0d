"""Command configs: one frozen dataclass per command, filled from defaults < YAML file < CLI flags.

YAML files are flat (keys are the dataclass's field names, no inheritance); the resolved config
is written beside every output so a run can be repeated from its record alone.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def _coerce(value: Any, annotation: Any) -> Any:
    """Turn YAML/CLI values into the field's type (lists into tuples; None stays None)."""
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


def make_config(cls: type[T], file: str | Path | None = None, **overrides: Any) -> T:
    """``cls`` from its defaults, then ``file`` (YAML), then non-None ``overrides`` (CLI flags)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if file:
        loaded = yaml.safe_load(Path(file).read_text()) or {}
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise ValueError(f"{file}: unknown setting(s) {unknown}; known: {sorted(names)}")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    return cls(**{k: _coerce(v, hints[k]) for k, v in values.items()})


def config_dict(config: Any) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def write_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML beside an output."""
    Path(path).write_text(yaml.safe_dump(config_dict(config), sort_keys=True))
