"""The corpus report: ``CORPUS/report/`` with a Markdown card, a self-contained HTML page and PNGs.

``write_report(corpus)`` reads the catalog and manifest (metadata only; a few sample bytes for
the duplicate thumbnails), writes every figure first and the two pages last, each atomically,
so a report directory never links a figure that is not there. For a corpus behind a URL the
report is drawn in a local temporary directory and uploaded in the same order.

A build draws the figures earlier, from its curated table while the shards are written
(:func:`draw_figures` of :func:`~workflows.report.data.curated_corpus`: the same rows, so the
same bytes), and hands them to ``write_report``, which then only writes the pages.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from catalogs.layout import REPORT, REPORT_FIGURES, REPORT_INDEX
from catalogs.store import Store, write_atomic

from workflows.report import sections
from workflows.report.card import to_html, to_markdown
from workflows.report.data import CorpusData, curated_corpus, load_corpus, load_scenes
from workflows.report.metrics import balance_summary
from workflows.report.thumbs import load_clusters

__all__ = ["DrawnFigures", "draw_figures", "draw_curated_figures", "warm_up", "write_report"]

FIGURE_NAMES = ("status", "density_map", "histograms", "balance", "duplicates")


def write_report(corpus: str | Path, *, drawn: DrawnFigures | None = None) -> str:
    """Write ``CORPUS/report/{README.md,index.html,figures/*.png}``; returns the HTML's path or URL.

    ``drawn`` (a local corpus only): what :func:`draw_figures` already wrote into
    ``CORPUS/report/figures`` for this catalog's rows; only the pages are written then.
    """
    store = Store(corpus)
    if store.local:
        return str(_draw_report(store, Path(store.url(REPORT)), drawn))
    with tempfile.TemporaryDirectory(prefix="ringmo-report-") as tmp:
        out = Path(tmp)
        _draw_report(store, out)
        names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        for name in sorted(names, key=lambda n: (not n.startswith("figures/"), n)):  # pages last
            store.write_bytes(f"{REPORT}/{name}", (out / name).read_bytes())
        for name in FIGURE_NAMES:
            if f"figures/{name}.png" not in names:
                store.remove(f"{REPORT_FIGURES}/{name}.png")
    return store.url(REPORT_INDEX)


def draw_curated_figures(corpus: str | Path, curated: pa.Table) -> DrawnFigures:
    """A local corpus's figures from its build's curated table, drawn while its shards are
    written (a corpus behind a URL has its whole report drawn, then uploaded, at the end)."""
    store = Store(corpus)
    return draw_figures(curated_corpus(store.root, curated), Path(store.url(REPORT_FIGURES)))


def warm_up() -> None:
    """Draw and discard a tiny figure: matplotlib's first draw loads fonts and caches (seconds),
    which a build does in a background thread while scenes are tiled."""
    import io

    from workflows.report import figures

    fig, ax = figures.plt.subplots(figsize=(2, 1), layout="constrained")
    ax.bar([0, 1], [1, 2])
    ax.set_title("warm-up")
    fig.savefig(io.BytesIO(), dpi=figures.DPI)
    figures.plt.close(fig)


@dataclass(frozen=True)
class DrawnFigures:
    """The figures drawn for a corpus: name -> PNG path, and how many thumbnails had no bytes."""

    paths: dict[str, Path]
    missing_thumbnails: int = 0


def draw_figures(data: CorpusData, fig_dir: Path) -> DrawnFigures:
    """Draw every figure of ``data`` into ``fig_dir`` (and remove those this corpus no longer has)."""
    from workflows.report import figures  # matplotlib: only where figures are drawn

    fig_dir.mkdir(parents=True, exist_ok=True)
    balance = balance_summary(data.before["cell"], data.after["cell"])
    paths = {
        "status": figures.status_chart(data, fig_dir / "status.png"),
        "density_map": figures.density_map(data, fig_dir / "density_map.png"),
        "histograms": figures.histograms(data, fig_dir / "histograms.png"),
        "balance": figures.balance_chart(data, balance, fig_dir / "balance.png"),
    }
    clusters = load_clusters(data.store, data.rows)
    if clusters:
        paths["duplicates"] = figures.duplicate_grid(clusters, fig_dir / "duplicates.png")
    _remove_stale(fig_dir, paths)
    missing = sum(t.image is None for c in clusters for t in [c.representative, *c.duplicates])
    return DrawnFigures(paths, missing)


def _draw_report(store: Store, out: Path, drawn: DrawnFigures | None = None) -> Path:
    """Draw the report of ``store``'s corpus into the local directory ``out`` (figures unless given)."""
    data = load_corpus(store.root)
    scenes = load_scenes(store.root)
    drawn = drawn or draw_figures(data, out / "figures")
    paths, missing = drawn.paths, drawn.missing_thumbnails
    balance = balance_summary(data.before["cell"], data.after["cell"])
    blocks = [
        *sections.summary(data, scenes),
        *sections.status_section(data, paths["status"]),
        *sections.balance_section(data, balance, paths["density_map"], paths["balance"]),
        *sections.distribution_section(data, paths["histograms"]),
        *sections.duplicate_section(data, paths.get("duplicates"), missing),
        *sections.inputs_section(scenes),
        *sections.stats_section(data),
        *sections.config_section(data),
    ]
    write_atomic(out / "README.md", to_markdown(blocks, out))
    write_atomic(out / "index.html", to_html(blocks, f"ringmo corpus card: {data.name}"))
    return out / "index.html"


def _remove_stale(fig_dir: Path, written: dict[str, Path]) -> None:
    """Drop figures an earlier report wrote but this one did not (e.g. no duplicates any more)."""
    for name in FIGURE_NAMES:
        path = fig_dir / f"{name}.png"
        if name not in written and path.exists():
            path.unlink()
