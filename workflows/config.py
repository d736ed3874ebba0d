"""Command configs: one frozen dataclass per command, filled from defaults < YAML file < CLI flags.

YAML files are flat (keys are the dataclass's field names, no inheritance); the resolved config
is written beside every output so a run can be repeated from its record alone. Filling a config
is :func:`catalogs.options.load_config` (shared with the trainer); this module writes them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from catalogs.options import load_config as make_config  # noqa: F401 - the workflows' name for it

__all__ = ["make_config", "config_dict", "write_config"]


def config_dict(config: Any) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def write_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML beside an output."""
    Path(path).write_text(yaml.safe_dump(config_dict(config), sort_keys=True))
