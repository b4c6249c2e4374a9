"""What a report page is made of: sections holding text, tables and figures.

The HTML templates render these objects and nothing else, so every number on a page
comes from the section builders, which read the stages' output files.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ReportError(RuntimeError):
    """The report cannot be written at all (e.g. the output folder is not writable)."""


@dataclass(frozen=True)
class FigureRef:
    """A figure saved as PNG and SVG beside the CSV it was drawn from (paths relative
    to the report folder)."""

    name: str
    title: str
    caption: str
    png: str
    svg: str
    csv: str


@dataclass
class TableData:
    caption: str
    columns: list[str]
    rows: list[list[str]]
    collapsed: bool = False  # long tables go inside a <details> element
    numeric_from: int = 1  # columns from this index on are right-aligned


@dataclass
class Section:
    id: str
    title: str
    missing: str | None = None  # why the section could not be built (None: it was)
    paragraphs: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # shell commands, shown as code
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, href)
    tables: list[TableData] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)


def missing(section_id: str, title: str, why: str, *commands: str) -> Section:
    """A section that could not be built, saying why and what would make it."""
    return Section(id=section_id, title=title, missing=why, commands=list(commands))


def pct(x: float | None) -> str:
    if x is None or x != x:  # None or NaN
        return "n/a"
    return f"{100 * x:.1f}"


def num(x: float | None, digits: int = 3) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.{digits}f}"
