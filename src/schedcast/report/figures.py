"""Figures with matplotlib: every figure is saved as PNG and SVG beside the CSV of
exactly the numbers it was drawn from."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from schedcast.report.page import FigureRef, ReportError  # noqa: E402

# Reproducible files: no dates in the metadata, fixed SVG ids, text drawn as paths
# (the SVG needs no font), one style everywhere.
plt.rcParams.update({
    "svg.hashsalt": "schedcast",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
})
_METADATA_SVG: dict[str, Any] = {"Date": None, "Creator": "schedcast"}
_METADATA_PNG: dict[str, Any] = {"Software": "schedcast"}

# One colour per event kind and per goroutine state, used by every figure.
KIND_COLORS = {
    "GoBlock": "#d62728", "GoCreate": "#2ca02c", "GoEnd": "#7f7f7f",
    "GoSched": "#9467bd", "GoStart": "#1f77b4", "GoUnblock": "#ff7f0e",
}
STATE_COLORS = {"running": "#2ca02c", "runnable": "#c7e9c0", "blocked": "#d62728", "syscall": "#9467bd"}


class FigureWriter:
    """Saves figures under ``<report>/figures/`` and hands back their references."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self.dir = report_dir / "figures"
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, fig: Figure, name: str, title: str, caption: str, rows: Sequence[dict[str, Any]]) -> FigureRef:
        """Write ``name``.png, .svg and .csv (``rows``: the data drawn, one dict per row)."""
        if not rows:
            plt.close(fig)
            raise ReportError(f"figure {name}: no data to draw")
        png, svg, data = (self.dir / f"{name}.{ext}" for ext in ("png", "svg", "csv"))
        try:
            # The tight bounding box once, for both files (each "tight" save would lay out twice).
            bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.05)
            fig.savefig(png, dpi=100, bbox_inches=bbox, metadata=_METADATA_PNG)
            fig.savefig(svg, bbox_inches=bbox, metadata=_METADATA_SVG)
        finally:
            plt.close(fig)
        fields: list[str] = []
        for row in rows:
            fields += [k for k in row if k not in fields]
        with open(data, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        rel = lambda p: p.relative_to(self.report_dir).as_posix()  # noqa: E731
        return FigureRef(name=name, title=title, caption=caption, png=rel(png), svg=rel(svg), csv=rel(data))


def grid(n: int, ncols: int = 3, size: tuple[float, float] = (3.4, 3.0)) -> tuple[Figure, list[Any]]:
    """A figure with ``n`` panels (small multiples), unused panels hidden."""
    cols = max(1, min(ncols, n))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    fig.subplots_adjust(hspace=0.6, wspace=0.4)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def new(width: float = 7.0, height: float = 3.6) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax
