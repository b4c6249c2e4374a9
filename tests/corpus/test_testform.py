"""Test-kernel forms of main programs: converted with Go's own parser, built and run for real."""

from __future__ import annotations

from pathlib import Path

from schedcast.collect import RunConfig, collect
from schedcast.collect.store import RunStore
from schedcast.corpus.catalog import handcrafted_programs, programs_by_origin, with_test_forms
from schedcast.corpus.program import ProgramKind
from schedcast.corpus.testform import SUFFIX, as_test_kernels, convert_sources


def test_every_handcrafted_and_generated_main_program_has_a_test_form() -> None:
    programs = handcrafted_programs() + programs_by_origin(["generated"], generated_count=5)
    forms, failed = as_test_kernels(programs)
    assert failed == {} and len(forms) == len(programs)
    for program, form in zip(programs, forms):
        assert form.id == program.id + SUFFIX and form.kind == ProgramKind.TEST and form.package == "main"
        assert form.extra["twin"] == program.id and form.origin == program.origin and form.expected == program.expected
        assert "func TestProgram(t *testing.T) {\n\tprogramBody()\n}" in form.sources["program_test.go"]
        main = next(text for name, text in form.sources.items() if "func programBody()" in text)
        assert "func main()" not in main


def test_names_already_in_use_and_bad_sources() -> None:
    taken = "package main\n\nfunc programBody() {}\n\nvar TestProgram = 1\n\nfunc main() { programBody() }\n"
    out = convert_sources([("a", {"main.go": taken}), ("b", {"main.go": "package main\nfunc main( {"}), ("c", {"lib.go": "package lib\n"})])
    assert isinstance(out[0], dict) and "func programBody2()" in out[0]["main.go"]
    assert "func TestProgram2(t *testing.T)" in out[0]["program_test.go"]
    assert isinstance(out[1], str) and "expected" in out[1]
    assert isinstance(out[2], str) and "not main" in out[2]


def test_a_test_form_builds_and_runs_as_a_kernel(tmp_path: Path) -> None:
    program = next(p for p in handcrafted_programs() if p.id == "chan_early_return_leak")
    programs, failed = with_test_forms([program])
    assert failed == {} and [p.id for p in programs] == [program.id, program.id + SUFFIX]
    summary = collect(programs[1:], tmp_path, RunConfig(runs=1), show_progress=False)
    assert summary.build_errors == {}
    runs = RunStore(tmp_path).read_runs().to_pylist()
    assert len(runs) == 1 and runs[0]["trace_path"] and "build_error" not in runs[0]["outcomes"]
