"""Attach class labels to discovered inputs: from folder names or from a (uri, label) table."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from catalogs.errors import InputError
from catalogs.store import scheme_of
from pipeline.objects import Annotations
from pipeline.scene import SourceRef

FROM_FOLDERS = "from-folders"


def _folder_label(uri: str, roots: list[str]) -> str | None:
    """The first folder under the input root that holds the file (UC Merced / AID layout)."""
    path = os.path.abspath(uri)
    for root in roots:
        root = os.path.abspath(root)
        if os.path.isdir(root) and path.startswith(root + os.sep):
            parts = Path(os.path.relpath(path, root)).parts
            return parts[0] if len(parts) > 1 else None
    return None


def read_label_table(path: str) -> dict[str, str]:
    """{uri: label} from a CSV or Parquet file with ``uri`` and ``label`` columns."""
    try:
        table = pq.read_table(path) if path.endswith(".parquet") else pacsv.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "no such label table (--labels takes from-folders or a CSV/Parquet file)") from None
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(path, f"not a readable CSV/Parquet label table ({' '.join(str(error).split())})") from None
    missing = {"uri", "label"} - set(table.column_names)
    if missing:
        raise InputError(path, f"label table lacks column(s) {sorted(missing)}")
    base = os.path.dirname(os.path.abspath(path))
    uris = [u if scheme_of(u) or os.path.isabs(u) else os.path.normpath(os.path.join(base, u))
            for u in table.column("uri").to_pylist()]
    return dict(zip(uris, (str(v) for v in table.column("label").to_pylist())))


def attach_labels(refs: list[SourceRef], labels: str | None,
                  roots: list[str]) -> tuple[list[SourceRef], list[tuple[str, str]]]:
    """Refs with ``label`` set, and (uri, problem) for inputs of a labeled build with no label."""
    if not labels:
        return refs, []
    if labels == FROM_FOLDERS:
        found = {ref.uri: _folder_label(ref.uri, roots) for ref in refs}
    else:
        table = read_label_table(labels)
        found = {ref.uri: table.get(ref.uri) or table.get(os.path.abspath(ref.uri)) for ref in refs}
    labeled = [dataclasses.replace(ref, label=found[ref.uri]) for ref in refs if found[ref.uri]]
    problems = [(ref.uri, f"no label for this file in {labels}") for ref in refs if not found[ref.uri]]
    return labeled, problems


def annotations_of(config) -> Annotations:
    """The object annotations of a detection build (``--labels``, ``--label-field``)."""
    return Annotations(config.labels, config.label_field)


def annotated_refs(refs: list[SourceRef], annotations: Annotations) -> tuple[list[SourceRef], list[tuple[str, str]]]:
    """Refs of images that have annotations, and (uri, problem) for those that have none."""
    found = [ref for ref in refs if annotations.has(ref.uri)]
    problems = [(ref.uri, f"no annotations for this image in {annotations.path}")
                for ref in refs if not annotations.has(ref.uri)]
    return found, problems
