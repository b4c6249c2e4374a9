"""Build the static HTML report of a schedcast output folder."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

from schedcast import __version__
from schedcast.report import figures as F
from schedcast.report import paper, results, stages, timeline
from schedcast.report.page import ReportError, Section, missing
from schedcast.terminal import Steps, progress

INDEX = "index.html"
GENERATOR = '<meta name="generator" content="schedcast report">'
PAPER = "paper.html"


@dataclass
class ReportResult:
    index: Path  # the report's main page
    paper: Path  # the "Reproduce the paper" page
    sections: dict[str, str | None]  # section id -> why it is missing (None: built), both pages
    figures: list[Path] = field(default_factory=list)  # every figure file written (PNG, SVG, CSV)
    seconds: float = 0.0
    section_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def missing(self) -> dict[str, str]:
        return {k: v for k, v in self.sections.items() if v is not None}


def _is_report(index: Path) -> bool:
    """Whether ``index`` is a page this module wrote (so its folder may be rewritten)."""
    try:
        return GENERATOR in index.read_text(errors="replace")
    except OSError:
        return False


def _guard(section_id: str, title: str, strict: bool, build: Callable[[], Section], timings: dict[str, float]) -> Section:
    """Build one section; a failure on unexpected input becomes a section that says why
    (``strict``: raise instead, for tests)."""
    started = time.monotonic()
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - one bad file must not cost the other sections
        if strict:
            raise
        return missing(section_id, title, f"cannot be built from these files ({type(exc).__name__}: {exc})")
    finally:
        timings[section_id] = time.monotonic() - started
        for steps in _progress[-1:]:
            steps.advance()


_progress: list[Steps] = []  # the report being built's progress (sections done)


def build_report(
    out_dir: Path, report_dir: Path | None = None, *, run_id: str | None = None, command: str | None = None, strict: bool = False
) -> ReportResult:
    """Write the report of the schedcast output folder ``out_dir`` (the main job's
    ``--out``: the collection, ``dataset/``, ``models/``, ``results/``, and where they
    exist ``probe/`` and ``leaks/``) into ``report_dir`` (default ``out_dir/report``):
    ``index.html``, ``paper.html``, ``style.css``, ``figures/`` and ``trace/``.
    Sections whose files are missing or unreadable say so; ``ReportError`` only when the
    report cannot be written at all."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    out = Path(out_dir)
    if not out.is_dir():
        raise ReportError(f"{out}: no such output folder (run `schedcast pipeline --out {out}` first)")
    target = Path(report_dir) if report_dir is not None else out / "report"
    try:
        if (target / "figures").is_dir() and _is_report(target / INDEX):
            shutil.rmtree(target / "figures")  # no stale figure of an earlier build
        target.mkdir(parents=True, exist_ok=True)
        writer = F.FigureWriter(target)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc

    loaded = results.load_results(out)
    _progress.append(progress("report", None, "sections").__enter__())

    def from_results(section_id: str, title: str, make: Callable[[results.Results], Section]) -> Section:
        if isinstance(loaded, str):
            return missing(section_id, title, loaded, results.EVALUATE_HINT.format(out=out))
        return _guard(section_id, title, strict, lambda: make(loaded), timings)

    main = [
        from_results("run", "What was run", lambda r: results.run_section(out, r)),
        _guard("runs", "Runs: outcomes per program", strict, lambda: stages.runs_section(out, writer), timings),
        from_results("composition", "What the test set is", lambda r: results.composition_section(out, r, writer)),
        from_results("models", "Models", lambda r: results.models_section(out, r, writer)),
        from_results("calibration", "Calibration: reliability diagrams", lambda r: results.reliability_section(out, r, writer)),
        from_results("per-kind", "Accuracy per true kind", lambda r: results.per_kind_section(out, r, writer)),
        from_results("confusion", "Confusion matrices", lambda r: results.confusion_section(out, r, writer)),
        from_results("entropy", "Entropy against measured nondeterminism", lambda r: results.entropy_section(out, r, writer)),
        _guard("probe", "Multi-step probe: survival and k-step fidelity", strict, lambda: stages.probe_section(out, writer), timings),
        _guard("leaks", "Goroutine leaks", strict, lambda: stages.leaks_section(out), timings),
        _guard("timeline", "Goroutine timeline of one run", strict, lambda: timeline.timeline_section(out, target, writer, run_id), timings),
        from_results("per-program", "Accuracy per program", lambda r: results.per_program_section(out, r)),
    ]
    reliability = [s for s in main if s.id == "calibration" and s.figures]
    paper_sections = [
        _guard("setup", "What differs in the setup", strict, lambda: paper.setup_section(out, loaded), timings),
        _guard("table3", "Table 3", strict, lambda: paper.table3_section(out, loaded, writer), timings),
        _guard("table5", "Table 5", strict, lambda: paper.table5_section(out, loaded, writer), timings),
        _guard("table6", "Table 6", strict, lambda: paper.table6_section(out, writer), timings),
        _guard("paper-calibration", "Calibration", strict,
               lambda: paper.calibration_section(out, loaded, writer, reliability[0].figures[0] if reliability else None), timings),
    ]

    _progress.pop().__exit__(None, None, None)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("schedcast.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("page.html.j2")
    nav = [("Report", INDEX), ("Reproduce the paper", PAPER)]
    how = command or f"schedcast report {out}"
    common = {"nav": nav, "command": how, "source": str(out), "version": __version__}
    citation = paper.paper_numbers()["citation"]
    try:
        (target / "style.css").write_text(resources.files("schedcast.report").joinpath("templates/style.css").read_text())
        (target / INDEX).write_text(template.render(
            title="schedcast report", current=INDEX, sections=main,
            footer="Markdown results for GitHub readers: results/results.md (written by the evaluation from the same data).", **common,
        ))
        (target / PAPER).write_text(template.render(
            title="Reproduce the paper", current=PAPER, sections=paper_sections,
            footer=f"The paper's numbers come from one cited data file, schedcast/report/paper_numbers.json: {citation}", **common,
        ))
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc
    written = sorted(p for p in (target / "figures").iterdir() if p.is_file())
    return ReportResult(
        index=target / INDEX,
        paper=target / PAPER,
        sections={s.id: s.missing for s in main + paper_sections},
        figures=written,
        seconds=time.monotonic() - started,
        section_seconds=timings,
    )
