"""Render the corpus card as Markdown (``README.md``) and a self-contained HTML page.

The card is a list of blocks (headings, paragraphs, tables, figures) written once by
``workflows.report.sections`` and rendered twice here, so both pages always say the same thing.
The HTML embeds every PNG as a base64 data URI and its CSS inline: it is one file that opens
anywhere, offline, and can be mailed around; the Markdown links the PNGs beside it.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str


Block = Heading | Para | Table | Figure
_CODE = re.compile(r"`([^`]*)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")

CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
max-width:1180px;margin:2em auto;padding:0 1.2em;color:#1a202c;line-height:1.45}
h1{border-bottom:2px solid #2b6cb0;padding-bottom:.2em}h2{margin-top:1.8em;color:#2b6cb0}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #e2e8f0;padding:.25em .7em;text-align:left}th{background:#f7fafc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0 1.6em}figure img{max-width:100%;border:1px solid #e2e8f0}
figcaption{color:#4a5568;font-size:.88em;margin-top:.3em}code{background:#f7fafc;padding:0 .2em}
"""


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def to_markdown(blocks: list[Block], base: Path) -> str:
    """Markdown with figures linked relative to ``base`` (the directory of README.md)."""
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}\n")
        elif isinstance(block, Para):
            out.append(f"{block.text}\n")
        elif isinstance(block, Table):
            out.append("| " + " | ".join(block.headers) + " |")
            out.append("|" + "|".join("---" for _ in block.headers) + "|")
            out += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, Figure):
            rel = os.path.relpath(block.path, base).replace(os.sep, "/")
            out.append(f"![{block.caption}]({rel})\n\n*{block.caption}*\n")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Markdown `code` and **bold** spans as HTML in otherwise escaped text (all cards use)."""
    text = _CODE.sub(r"<code>\1</code>", html.escape(text))
    return _BOLD.sub(r"<strong>\1</strong>", text)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained page: inline CSS, images as data URIs, no external references."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>" + "".join(
                    f"<td class=\"num\">{_cell(v)}</td>" if isinstance(v, (int, float)) and not isinstance(v, bool)
                    else f"<td>{_inline(_cell(v))}</td>" for v in row) + "</tr>"
                for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Figure):
            alt = html.escape(block.caption, quote=True)
            body.append(f"<figure><img alt=\"{alt}\" src=\"{_data_uri(block.path)}\">"
                        f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")

