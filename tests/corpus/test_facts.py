"""Static source facts: Go's own parser and type checker on programs with known answers,
and the sites lined up with what real traces report."""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from schedcast.collect import RunConfig, collect
from schedcast.collect.store import RunStore
from schedcast.corpus import builtin_programs, load_program
from schedcast.corpus import facts as facts_module
from schedcast.corpus.cli import app
from schedcast.corpus.facts import (
    MAX_SOURCE_BYTES,
    OPS,
    ProgramFacts,
    facts_for,
    program_facts,
    source_facts,
)
from schedcast.corpus.goker import toolchain_goker_programs
from schedcast.corpus.program import make_program
from schedcast.trace import GoState, read_trace
from schedcast.trace.snapshot import is_user_frame, user_site

PROGRAMS = Path(__file__).parent / "facts_programs"
_WANT_RE = re.compile(r"//\s*want:(.*)$")


def _wanted(source: str) -> dict[int, set[tuple[str, tuple[str, ...]]]]:
    """Line -> {(op, next_ops)} from the `// want: OP -> NEXT...; OP -> ...` comments."""
    out: dict[int, set[tuple[str, tuple[str, ...]]]] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        m = _WANT_RE.search(line)
        if m is None:
            continue
        for part in m.group(1).split(";"):
            op, _, nxt = part.partition("->")
            out.setdefault(number, set()).add((op.strip(), tuple(sorted(nxt.split()))))
    return out


def _found(facts: ProgramFacts, file: str) -> dict[int, set[tuple[str, tuple[str, ...]]]]:
    out: dict[int, set[tuple[str, tuple[str, ...]]]] = {}
    for s in facts.sites:
        if s.file == file:
            out.setdefault(s.line, set()).add((s.op, s.next_ops))
    return out


def _check_annotated(facts: ProgramFacts, file: str, source: str) -> None:
    wanted, found = _wanted(source), _found(facts, file)
    assert wanted, "the program has no annotations"
    for line in sorted(set(wanted) | set(found)):
        assert found.get(line) == wanted.get(line), (file, line, source.splitlines()[line - 1].strip())


@pytest.fixture(scope="module")
def every_op() -> tuple[ProgramFacts, str]:
    source = (PROGRAMS / "every_op.go").read_text()
    return source_facts({"main.go": source.encode()}), source


def test_every_operation_with_its_successors(every_op: tuple[ProgramFacts, str]) -> None:
    facts, source = every_op
    assert facts.typed and facts.parse_errors == ()
    _check_annotated(facts, "prog/main.go", source)
    assert {op for op, n in facts.counts().items() if n} == set(OPS), "every operation kind is covered"
    assert all(not s.detail.get("guessed") for s in facts.sites)


def test_calls_stand_for_what_the_callee_does_first() -> None:
    """A call of one of the program's own functions (or concrete methods) reads as the
    callee's first operations, through chains of calls and recursion; calls the
    analyzer cannot resolve (other packages, interface methods) are transparent."""
    source = (PROGRAMS / "calls.go").read_text()
    facts = source_facts({"main.go": source.encode()})
    assert facts.typed and facts.parse_errors == ()
    _check_annotated(facts, "prog/main.go", source)


def test_select_details(every_op: tuple[ProgramFacts, str]) -> None:
    facts, _ = every_op
    selects = {s.line: s.detail for s in facts.sites if s.op == "select"}
    assert selects[56] == {"cases": 2, "default": False, "case_kinds": ["recv", "send"], "case_lines": [57, 59]}
    assert selects[61] == {
        "cases": 4, "default": True, "case_kinds": ["recv", "recv", "send", "recv"], "case_lines": [62, 63, 64, 65],
    }
    # A case's own send or receive is part of the select, not a site of its own.
    assert {s.op for s in facts.at("prog/main.go:59")} == set()
    # ctx.Done() in a case is evaluated before the select blocks: it is a site.
    assert [s.op for s in facts.at("prog/main.go:125")] == ["ctx_done"]


def test_types_decide_what_a_call_is(every_op: tuple[ProgramFacts, str]) -> None:
    facts, _ = every_op
    # c.Lock() on a struct embedding sync.Mutex is a mutex lock ...
    (lock,) = facts.at("prog/main.go:19")
    assert (lock.op, lock.func, lock.detail["type"]) == ("mutex_lock", "(*counter).inc", "sync.Mutex")
    # ... f.Lock() on a type with its own Lock method is not (line 147).
    assert facts.at("prog/main.go:147") == ()
    # Deferred operations are marked; generic code is type-checked (range over chan T).
    assert facts.at("prog/main.go:20")[0].detail["deferred"] is True
    assert facts.at("prog/main.go:49")[0].detail == {"range": True}


def test_go_statements_name_what_they_start(every_op: tuple[ProgramFacts, str]) -> None:
    facts, _ = every_op
    started = {s.line: s.detail["func"] for s in facts.sites if s.op == "go"}
    assert started == {77: "waitAll.func1", 136: "produce", 144: "(*counter).inc", 152: "(*queue).push", 156: "drain"}
    # The closure's own sites carry its name.
    assert facts.at("prog/main.go:79")[0].func == "waitAll.func1"


def test_test_kernel_with_known_answers() -> None:
    program = load_program(PROGRAMS / "kernel")
    facts = program_facts(program)
    assert facts.typed and facts.parse_errors == ()
    _check_annotated(facts, "prog/kernel_test.go", program.sources["kernel_test.go"])


def test_goker_kernel_from_the_toolchain() -> None:
    program = next(p for p in toolchain_goker_programs() if p.id == "goker_cockroach1055")
    facts = program_facts(program)
    assert facts.typed and facts.parse_errors == ()
    by_line = {line: ops for line, ops in _found(facts, "prog/cockroach1055.go").items()}
    # Stopper.Stop: the AB-BA core of the bug (GOROOT/.../goker/cockroach1055.go, lines 52-59).
    assert by_line[53] == {("mutex_lock", ("wg_wait",))}
    assert by_line[54] == {("mutex_unlock", ())}
    assert by_line[56] == {("wg_wait", ("close",))}
    assert by_line[57] == {("close", ("wg_wait",))}
    assert by_line[58] == {("wg_wait", ("return",))}
    assert by_line[59] == {("func_end", ("mutex_unlock",))}
    # StartTask: the deferred unlock runs on the return inside the if only.
    assert by_line[66] == {("return", ("mutex_unlock",))}
    assert by_line[68] == {("return", ())}
    started = {s.line: s.detail["func"] for s in facts.sites if s.op == "go"}
    assert started == {85: "Cockroach1055.func2", 94: "Cockroach1055.func2.1", 102: "Cockroach1055.func2.2"}
    assert facts.counts()["go"] == 3 and facts.counts()["wg_wait"] == 3  # lines 48, 56, 58


def test_every_goker_and_handcrafted_program_type_checks() -> None:
    from schedcast.corpus.catalog import handcrafted_programs

    programs = toolchain_goker_programs() + handcrafted_programs()
    results = facts_for(programs)
    assert len(results) == len(programs) >= 120
    assert [p.id for p, f in zip(programs, results) if not f.typed or f.parse_errors] == []
    # Every program holds concurrency operations (one hand-crafted leak starts no goroutine:
    # a ticker loop in main).
    assert all(sum(n for op, n in f.counts().items() if op not in ("return", "func_end")) >= 2 for f in results)
    assert sum(1 for f in results if f.counts()["go"] == 0) <= 1


def test_a_file_that_does_not_parse_gives_an_error_record() -> None:
    good = b"package main\n\nfunc main() {\n\tc := make(chan int)\n\tgo func() { c <- 1 }()\n\t<-c\n}\n"
    bad = b"package main\n\nfunc broken( {\n"
    facts = source_facts({"main.go": good, "bad.go": bad})
    assert not facts.typed
    assert any(e.startswith("bad.go:3:") for e in facts.parse_errors), facts.parse_errors
    # The files that parse still give their facts.
    assert [s.op for s in facts.at("prog/main.go:6")] == ["recv"]
    only_bad = source_facts({"bad.go": bad})
    assert only_bad.sites == () and only_bad.parse_errors and not only_bad.typed
    # Through the Program API too: a program whose file does not parse never raises.
    program = make_program("broken", {"main.go": "package main\n\nfunc main() {\n\tgo func( {\n}\n"})
    facts = program_facts(program)
    assert facts.sites == () and "main.go:4" in facts.parse_errors[0]


def test_type_errors_fall_back_to_syntax() -> None:
    source = b"""package main

import (
	"example.com/missing"
	"sync"
	"time"
)

func main() {
	var m missing.Mutex
	m.Lock()
	var mu sync.Mutex
	mu.Lock()
	time.Sleep(1)
	var x int = "not an int"
	_ = x
}
"""
    facts = source_facts({"main.go": source})
    assert not facts.typed and any("type error" in e for e in facts.parse_errors)
    # Unknown type: guessed from the method name and said so.
    (guessed,) = facts.at("prog/main.go:11")
    assert (guessed.op, guessed.detail.get("guessed")) == ("mutex_lock", True)
    # What did type-check is still decided by the types.
    (typed,) = facts.at("prog/main.go:13")
    assert typed.op == "mutex_lock" and "guessed" not in typed.detail
    assert facts.at("prog/main.go:14")[0].op == "sleep"


def test_oversized_and_malformed_inputs_give_error_records(monkeypatch: pytest.MonkeyPatch) -> None:
    big = b"package main\n\nfunc main() {}\n" + b"// padding\n" * (MAX_SOURCE_BYTES // 11 + 1)
    facts = source_facts({"main.go": big})
    assert facts.sites == () and facts.parse_errors[0].startswith("source too large")
    assert source_facts({}).parse_errors == ("no Go files",)
    assert "not UTF-8" in source_facts({"main.go": b"package main\xff\xfe"}).parse_errors[0]
    assert "not a Go file name" in source_facts({"../main.go": b"package main"}).parse_errors[0]
    # Nesting deep enough to trouble a recursive parser is refused by Go's parser, per program.
    deep = b"package main\n\nvar x = " + b"(" * 200_000 + b"1" + b")" * 200_000 + b"\n"
    assert source_facts({"main.go": deep}).parse_errors
    # Loops nested past what the flow analysis follows in bounded work: a record, quickly.
    depth = 40
    nested = "".join(f"for i{i} := 0; i{i} < 2; i{i}++ {{\n" for i in range(depth)) + "c <- 1\n" + "}\n" * depth
    source = f"package main\n\nfunc main() {{\nc := make(chan int, 1)\n{nested}}}\n"
    assert "control flow too complex" in source_facts({"main.go": source.encode()}).parse_errors[0]
    # The analyzer enforces its own size cap too (a record, not a crash).
    monkeypatch.setattr(facts_module, "MAX_SOURCE_BYTES", 64)
    records = facts_module._run_analyzer([{"id": "0", "go_version": "", "files": {"main.go": "package main\n" * 10}}])
    assert records[0]["sites"] == [] and records[0]["errors"][0].startswith("source too large")


def test_analyzer_limits_turn_into_error_records(monkeypatch: pytest.MonkeyPatch) -> None:
    unique = f"package main\n\n// {uuid.uuid4()}\nfunc main() {{}}\n".encode()
    # Too little address space for Go's runtime to start: the limit holds from the start.
    monkeypatch.setattr(facts_module, "ANALYZER_MEMORY_BYTES", 256 << 20)
    facts = source_facts({"main.go": unique})
    assert facts.sites == () and facts.parse_errors[0].startswith("source-facts analyzer failed: fatal error:")
    monkeypatch.setattr(facts_module, "ANALYZER_TIMEOUT_S", 0.0)
    monkeypatch.setattr(facts_module, "ANALYZER_TIMEOUT_PER_PROGRAM_S", 0.001)
    facts = source_facts({"main.go": unique})
    assert facts.sites == () and "took longer than" in facts.parse_errors[0]
    monkeypatch.undo()
    # A failure is not cached: the next call analyses it for real.
    assert source_facts({"main.go": unique}).typed


def test_a_crashing_batch_is_halved_until_the_culprit_is_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    token = uuid.uuid4()
    sources = [f"package main\n\n// {token} {i}\nfunc main() {{ <-make(chan int) }}\n" for i in range(5)]
    real = facts_module._run_analyzer
    batches: list[int] = []

    def crashing_on_the_third(requests):  # type: ignore[no-untyped-def]
        # The analyzer process dies (as when one program exhausts its memory).
        batches.append(len(requests))
        if any(str(token) + " 2" in r["files"]["main.go"] for r in requests):
            raise facts_module.FactsError("source-facts analyzer failed: fatal error: out of memory")
        return real(requests)

    monkeypatch.setattr(facts_module, "_run_analyzer", crashing_on_the_third)
    results = facts_for([make_program(f"p{i}", {"main.go": text}) for i, text in enumerate(sources)])
    assert [bool(r.sites) for r in results] == [True, True, False, True, True]
    assert "out of memory" in results[2].parse_errors[0]
    assert batches[0] == 5 and batches.count(1) >= 1


def test_answers_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    unique = f"package main\n\n// {uuid.uuid4()}\nfunc main() {{ ch := make(chan int, 1); ch <- 1 }}\n"
    program = make_program("cached", {"main.go": unique})
    calls: list[int] = []
    real = facts_module._run_analyzer

    def counting(requests):  # type: ignore[no-untyped-def]
        calls.append(len(requests))
        return real(requests)

    monkeypatch.setattr(facts_module, "_run_analyzer", counting)
    first = program_facts(program)
    assert calls == [1] and [s.op for s in first.at("prog/main.go:4")] == ["func_start", "send", "func_end"]
    assert program_facts(program) == first and calls == [1]  # in memory
    facts_module._memory.clear()
    assert program_facts(program) == first and calls == [1]  # on disk
    assert facts_for([program], use_cache=False) == [first] and calls == [1, 1]


def test_sites_line_up_with_real_traces(builtin_collection: tuple[Path, pa.Table]) -> None:
    """Every block on a channel, select or sleep at a program line, and every goroutine
    created there, is a site of that kind in the facts: in a main program, a test kernel
    and a GoKer kernel, with file names exactly as user_site() reports them."""
    out, table = builtin_collection
    goker = [p for p in toolchain_goker_programs() if p.id in ("goker_moby28462", "goker_cockroach1055")]
    with tempfile.TemporaryDirectory() as tmp:
        collect(goker, Path(tmp), RunConfig(runs=1), show_progress=False)
        goker_runs = [(Path(tmp), r) for r in RunStore(Path(tmp)).read_runs().to_pylist()]
        runs = [(out, r) for r in table.to_pylist()] + goker_runs
        programs = {p.id: p for p in builtin_programs() + goker}
        kinds = {"chan receive": {"recv"}, "chan send": {"send"}, "select": {"select"}, "sleep": {"sleep"}}
        checked: dict[str, int] = {}
        for root, run in runs:
            if not run["trace_complete"]:
                continue  # build_error_type never ran; crash_unlock dies before its trace is flushed
            program = programs[run["program_id"]]
            facts = program_facts(program)
            files = {f"prog/{name}" for name in program.sources}
            for ev in read_trace(root / run["trace_path"]).events:
                if ev.to_state == GoState.WAITING and ev.reason in kinds:
                    # Only blocks in the program's own operation (the runtime primitive is
                    # called by the user frame), not e.g. the runtime starting GC workers
                    # during an allocation (a "chan receive" inside runtime.gcStart).
                    if len(ev.stack) < 2 or not is_user_frame(ev.stack[1]):
                        continue
                    site, want = user_site(ev.stack), kinds[ev.reason]
                elif ev.from_state == GoState.NOT_EXIST and ev.actor_stack and ev.stack and is_user_frame(ev.stack[0]):
                    site, want = user_site(ev.actor_stack), {"go"}
                else:
                    continue
                if site.rsplit(":", 1)[0] not in files:
                    continue  # the harness's own goroutines
                ops = facts.at(site)
                assert want & {s.op for s in ops}, (program.id, ev.reason or "create", site, ops)
                if want == {"go"}:
                    (go,) = [s for s in ops if s.op == "go"]
                    started = ev.stack[0].func.split(".", 1)[1].replace("schedcastUserMain", "main")
                    assert go.detail["func"] == started, (program.id, site)
                checked[program.kind.value + ":" + program.origin] = checked.get(program.kind.value + ":" + program.origin, 0) + 1
    assert checked.get("main:builtin", 0) > 20 and checked.get("test:builtin", 0) >= 3 and checked.get("main:goker", 0) > 100


def test_cli_prints_the_facts(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["facts", "leak_select_two"])
    assert result.exit_code == 0, result.output
    assert "prog/main.go:7" in result.output and "select" in result.output and "cases=2" in result.output
    result = runner.invoke(app, ["facts", str(PROGRAMS / "kernel"), "--json"])
    assert result.exit_code == 0, result.output
    assert '"op": "mutex_lock"' in result.stdout
    result = runner.invoke(app, ["facts", "--origin", "builtin"])
    assert result.exit_code == 0 and "10 programs" in result.output
    result = runner.invoke(app, ["facts", "no_such_program"])
    assert result.exit_code == 1 and "no program or path 'no_such_program'" in result.output
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { go func( }\n")
    result = runner.invoke(app, ["facts", str(tmp_path / "main.go")])
    assert result.exit_code == 1 and "no source facts: main.go:3" in result.output
    assert "Traceback" not in result.output


def test_waits_name_their_constant_durations() -> None:
    """Sleeps, timers and context timeouts carry their duration in ns when the type checker
    evaluates it to a constant; a select with a `<-time.After(d)` case (or a timer made in
    the case) carries its shortest such d. Nothing is guessed for variables."""
    source = (PROGRAMS / "waits.go").read_text()
    facts = source_facts({"main.go": source.encode()})
    assert facts.typed and facts.parse_errors == ()
    ns = {(s.line, s.op): s.detail.get("ns", s.detail.get("timer_ns")) for s in facts.sites if s.op in ("sleep", "timer", "select", "ctx_with_cancel")}
    assert ns == {
        (13, "sleep"): None,  # time.Sleep(d): d is a parameter
        (14, "select"): 1_000,  # the shorter of 6 ms and 1 µs
        (16, "timer"): 6_000_000,
        (17, "timer"): 1_000,
        (19, "select"): None,  # time.After(d): not a constant
        (21, "timer"): None,
        (26, "sleep"): 10_000_000,
        (27, "sleep"): 3_000_000,
        (28, "sleep"): 7,
        (29, "ctx_with_cancel"): 2_000_000_000,
        (31, "timer"): 250,
        (32, "timer"): 3_600_000_000_000,
        (35, "select"): None,  # receives from a timer made elsewhere
    }
