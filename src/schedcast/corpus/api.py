"""The corpus stage's API: which programs a job runs, from a typed description."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from schedcast.corpus import catalog
from schedcast.corpus.program import Program, ProgramError


@dataclass(frozen=True)
class CorpusSpec:
    """The main job's corpus: built-in and hand-crafted programs (train side), the
    toolchain's GoKer kernels (held out), `generated` generated programs, GoBench kernels
    imported into `gobench` folders; `test_forms` adds each train-side main program in
    test-kernel form; `stress_copies` > 0 adds each generated program's stress form
    (a test kernel running that many copies of its body at once,
    schedcast.corpus.testform); `only` keeps just these program ids (empty: all)."""

    generated: int = 20
    test_forms: bool = False
    gobench: tuple[Path, ...] = ()
    only: tuple[str, ...] = ()
    stress_copies: int = 16


@dataclass
class Corpus:
    programs: list[Program]
    origins: list[str]
    duplicates: list[str] = field(default_factory=list)  # GoKer kernels left out: GoBench has the same bug
    unconverted: dict[str, str] = field(default_factory=dict)  # program id -> why it has no test-kernel form

    def describe(self, test_forms: bool, stress_copies: int = 0) -> str:
        extra = "; train-side main programs also in test-kernel form" if test_forms else ""
        if stress_copies:
            extra += f"; generated programs also in stress form ({stress_copies} copies at once)"
        return f"{len(self.programs)} programs ({', '.join(self.origins)}{extra}); test = the real-world kernels"


def select_corpus(spec: CorpusSpec) -> Corpus:
    origins = ["builtin", "handcrafted", "goker"] + (["generated"] if spec.generated else []) + (["gobench"] if spec.gobench else [])
    found = catalog.programs_by_origin(origins, gobench_dirs=list(spec.gobench), generated_count=spec.generated or None)
    programs, duplicates = catalog.drop_duplicate_kernels(found)
    if spec.only:
        known = {p.id for p in programs}
        missing = [pid for pid in spec.only if pid not in known]
        if missing:
            raise ProgramError(f"no program {missing[0]!r} in the corpus ({', '.join(origins)})")
        programs = [p for p in programs if p.id in set(spec.only)]
    unconverted: dict[str, str] = {}
    if spec.stress_copies < 0:
        raise ProgramError(f"stress copies must be 0 (off) or more (got {spec.stress_copies})")
    originals = programs
    if spec.test_forms:
        programs, unconverted = catalog.with_test_forms(programs)
    if spec.stress_copies:
        stressed, failed = catalog.stress_forms(originals, spec.stress_copies)
        programs = programs + stressed
        unconverted.update({f"{pid} (stress form)": why for pid, why in failed.items()})
    return Corpus(programs, origins, duplicates, unconverted)
