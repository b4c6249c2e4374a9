"""Source sites of a program: trace file names to the program's own files, the source
text of a line, and what the program's source facts say about a select.

Builds use ``-trimpath``: a stack names ``prog/main.go`` for schedcast's own
programs and ``<module path>/<dir>/<file>.go`` for a user's module. Sites are shown
relative to the program (the module root), the way its author knows the files.
"""

from __future__ import annotations

from typing import Any

from schedcast.corpus.module import EXTRA_MODULE_PATH
from schedcast.corpus.program import Program

BUILD_MODULE = "prog"  # module path of schedcast's builds (collect/build.py)


def _facts_api() -> Any | None:
    try:
        from schedcast.corpus import facts  # type: ignore[attr-defined]
    except ImportError:
        return None
    return facts


class SourceSites:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.prefix = program.extra.get(EXTRA_MODULE_PATH, BUILD_MODULE) + "/"
        self._facts: Any | None = None
        self._facts_error = ""

    def display(self, site: str) -> str:
        """``prog/main.go:11`` -> ``main.go:11`` (the program's own file names)."""
        return site.removeprefix(self.prefix)

    def _split(self, site: str) -> tuple[str, int] | None:
        file, _, line = self.display(site).rpartition(":")
        if not file or not line.isdigit():
            return None
        return file, int(line)

    def line_text(self, site: str) -> str:
        parts = self._split(site)
        if parts is None or parts[0] not in self.program.sources:
            return ""
        lines = self.program.sources[parts[0]].splitlines()
        return lines[parts[1] - 1].strip() if 0 < parts[1] <= len(lines) else ""

    @property
    def facts(self) -> Any | None:
        """The program's source facts (schedcast.corpus.facts), or None where unavailable."""
        if self._facts is None and not self._facts_error:
            api = _facts_api()
            if api is None:
                self._facts_error = "schedcast.corpus.facts is not available"
                return None
            try:
                self._facts = api.program_facts(self.program)
            except Exception as exc:  # noqa: BLE001 - facts are an enrichment; a failure is reported, not fatal
                self._facts_error = f"source facts unavailable: {exc}"
        return self._facts

    def select_cases(self, site: str) -> tuple[int | None, bool | None]:
        """(case count, has default) of the select statement at `site`, from the facts."""
        facts = self.facts
        if facts is None or not site:
            return None, None
        # The facts name sites as the trace does (`prog/main.go:17`).
        for fact in facts.at(site) or facts.at(self.display(site)):
            if getattr(fact, "op", "") == "select":
                detail = getattr(fact, "detail", {}) or {}
                cases = detail.get("cases")
                return (int(cases) if cases is not None else None), bool(detail.get("default", False))
        return None, None
