"""Test-kernel forms of main programs: converted with Go's own parser, built and run for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcast.collect import RunConfig, collect
from schedcast.collect.store import RunStore
from schedcast.corpus.catalog import handcrafted_programs, programs_by_origin, with_test_forms
from schedcast.corpus.api import CorpusSpec, select_corpus
from schedcast.corpus.program import ProgramError, ProgramKind
from schedcast.corpus.testform import STRESS_SUFFIX, SUFFIX, as_test_kernels, convert_sources
from schedcast.trace import read_trace


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


def test_a_stress_form_runs_copies_of_the_body_at_once(tmp_path: Path) -> None:
    program = programs_by_origin(["generated"], generated_count=1)[0]
    forms, failed = as_test_kernels([program], copies=4)
    assert failed == {} and len(forms) == 1
    form = forms[0]
    assert form.id == f"{program.id}{STRESS_SUFFIX}4" and form.kind == ProgramKind.TEST
    assert form.extra["twin"] == program.id and form.extra["form"] == "stress" and form.extra["copies"] == "4"
    assert "for i := 0; i < 4; i++ {" in form.sources["program_test.go"]
    # The kernels' harness: the test sleeps 100 ms while the copies run, then waits for them.
    assert "programtime.Sleep(100 * programtime.Millisecond)" in form.sources["program_test.go"]
    # Built and run for real: the body's goroutines are started four times over.
    summary = collect([program, form], tmp_path, RunConfig(runs=1), show_progress=False)
    assert summary.build_errors == {}
    runs = {r["program_id"]: r for r in RunStore(tmp_path).read_runs().to_pylist()}
    created = {}
    for pid, row in runs.items():
        trace = read_trace(tmp_path / str(row["trace_path"]))
        lo, hi = trace.window()
        system = trace.system_goroutines()
        created[pid] = sum(1 for ev in trace.events[lo:hi] if ev.wire == "GoCreate" and ev.g not in system)
    assert created[program.id] >= 1
    # Each copy: a starter goroutine (it starts the copy and ends), the copy, the body's goroutines.
    assert created[form.id] >= 4 * created[program.id] + 8, created
    # The corpus stage adds stress forms for the generated programs only, and rejects a negative count.
    corpus = select_corpus(CorpusSpec(generated=2, only=(program.id, "timeout_spin"), stress_copies=3))
    ids = [p.id for p in corpus.programs]
    assert f"{program.id}{STRESS_SUFFIX}3" in ids and not any(i.startswith("timeout_spin.") for i in ids)
    with pytest.raises(ProgramError, match="stress copies"):
        select_corpus(CorpusSpec(generated=0, stress_copies=-1))
