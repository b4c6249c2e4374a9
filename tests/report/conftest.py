"""A small real main-job output (built-in programs to train on, two GoKer kernels held
out, 3 runs each) shared by the report's tests, and the checks every report must pass."""

from __future__ import annotations

import csv
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.corpus import catalog

KERNELS = ("goker_cockroach1055", "goker_etcd6873")


@pytest.fixture(scope="session")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The main job's output folder and what it printed."""
    real = catalog.programs_by_origin

    def small_corpus(origins, **kwargs):  # type: ignore[no-untyped-def]
        return [p for p in real(origins, **kwargs) if p.origin == "builtin" or p.id in KERNELS]

    out = tmp_path_factory.mktemp("main-job") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(catalog, "programs_by_origin", small_corpus)
        result = CliRunner().invoke(app, ["pipeline", "--out", str(out), "--runs", "3", "--boot", "100"])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="session")
def built_report(main_job: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The report of `main_job`, built once (strict: a failing section raises)."""
    from schedcast.report import build_report

    return build_report(main_job[0], tmp_path_factory.mktemp("report") / "report", strict=True)


class _Figures(HTMLParser):
    """The figures of a report page: each <figure>'s image and its PNG/SVG/CSV links."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, str]] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure":
            self._in = True
            self.figures.append({"id": a.get("id") or ""})
        elif self._in and tag == "img":
            self.figures[-1]["img"] = a.get("src") or ""
        elif self._in and tag == "a" and a.get("href"):
            ext = a["href"].rsplit(".", 1)[-1]
            self.figures[-1][ext] = a["href"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._in = False


def page_figures(page: Path) -> list[dict[str, str]]:
    parser = _Figures()
    parser.feed(page.read_text())
    return parser.figures


def assert_figures_complete(page: Path) -> int:
    """Every figure of the page has a non-empty PNG and SVG and a CSV with at least one
    data row; returns the number of figures."""
    figures = page_figures(page)
    for fig in figures:
        for ext in ("png", "svg", "csv"):
            assert fig.get(ext), f"{page.name}: figure {fig['id']} has no {ext} link"
            path = page.parent / fig[ext]
            assert path.is_file(), f"{page.name}: figure {fig['id']}: {fig[ext]} is missing"
            assert path.stat().st_size > 0, f"{page.name}: figure {fig['id']}: {fig[ext]} is empty"
        with open(page.parent / fig["csv"], newline="") as f:
            rows = list(csv.reader(f))
        assert len(rows) >= 2, f"{page.name}: figure {fig['id']}: {fig['csv']} has no data rows"
        assert fig["img"] in (fig["svg"], fig["png"])
    return len(figures)


def section_text(page: Path, section_id: str) -> str:
    """The text of one section of a report page (tags removed)."""
    html = page.read_text()
    m = re.search(rf'<section id="{re.escape(section_id)}"[^>]*>(.*?)</section>', html, re.S)
    assert m, f"{page.name} has no section {section_id}"
    return unescape(re.sub(r"<[^>]+>", " ", m.group(1)))
