"""The report: a static HTML folder (figures as PNG/SVG with their CSV) built from the
files the other stages write, and a "Reproduce the paper" page. See docs/report.md."""

from schedcast.report.build import ReportResult, build_report
from schedcast.report.page import ReportError

__all__ = ["ReportError", "ReportResult", "build_report"]
