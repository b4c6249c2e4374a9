"""`schedcast corpus`: list, show, generate, import and measure programs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from schedcast.corpus.program import Program, ProgramError, write_program
from schedcast.terminal import fail

app = typer.Typer(
    help="The program corpus: hand-crafted, generated and real-world kernels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DEFAULT_ORIGINS = ("builtin", "handcrafted", "generated", "goker")

OriginOpt = Annotated[Optional[list[str]], typer.Option("--origin", help="Keep these origins (repeatable): builtin, handcrafted, generated, goker, gobench.")]
PatternOpt = Annotated[Optional[list[str]], typer.Option("--pattern", help="Keep these concurrency patterns (repeatable).")]
OutcomeOpt = Annotated[Optional[list[str]], typer.Option("--outcome", help="Keep programs declaring any of these outcomes (repeatable).")]
GobenchOpt = Annotated[Optional[list[Path]], typer.Option("--gobench", help="A folder written by import-gobench (repeatable); adds origin gobench.")]
RunsDirOpt = Annotated[Optional[Path], typer.Option("--runs", help="A collection directory: add measured metadata from its runs.")]
CountOpt = Annotated[int, typer.Option("--count", help="Generated programs.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Generator seed.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _programs(origin: list[str] | None, gobench: list[Path] | None, count: int, seed: int) -> list[Program]:
    from schedcast.corpus.catalog import programs_by_origin

    origins = list(origin or DEFAULT_ORIGINS)
    if gobench and origin is None:
        origins.append("gobench")  # --gobench adds its programs unless --origin says otherwise
    for d in gobench or []:
        if not Path(d).is_dir():
            fail(f"{d}: no such folder (write one with `schedcast corpus import-gobench PATH --out {d}`)")
    try:
        return programs_by_origin(origins, gobench_dirs=gobench or [], generated_count=count, generated_seed=seed)
    except ProgramError as exc:
        fail(str(exc))
    raise AssertionError  # unreachable: _fail raises


def _measured(runs: Path | None, traces: bool = True) -> dict[str, object]:
    if runs is None:
        return {}
    from schedcast.dataset.measure import measure_collection

    if not (runs / "runs.parquet").exists() and not (runs / "pending").is_dir():
        fail(f"{runs}: not a collection directory (run `schedcast collect --out {runs}` first)")
    return measure_collection(runs, traces=traces)  # type: ignore[return-value]


def _declared(p: Program) -> dict[str, object]:
    return {
        "id": p.id,
        "origin": p.origin,
        "kind": p.kind.value,
        "pattern": p.pattern,
        "expected": list(p.expected),
        "language_version": p.language_version,
        "args": list(p.args),
        "timeout": p.wall_timeout_s,
        "description": p.description,
        "extra": dict(p.extra),
        "files": sorted(p.sources),
        "source_hash": p.source_hash,
    }


@app.command("list")
def list_cmd(
    origin: OriginOpt = None,
    pattern: PatternOpt = None,
    outcome: OutcomeOpt = None,
    gobench: GobenchOpt = None,
    runs: RunsDirOpt = None,
    count: CountOpt = 200,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """List programs with declared metadata (and measured metadata with --runs)."""
    from schedcast.corpus.catalog import select_programs

    programs = select_programs(
        _programs(origin, gobench, count, seed), pattern=pattern or (), outcome=outcome or ()
    )
    measured = _measured(runs, traces=False)
    if as_json:
        rows = []
        for p in programs:
            row = _declared(p)
            m = measured.get(p.id)
            row["measured"] = m.to_json() if m is not None else None  # type: ignore[attr-defined]
            rows.append(row)
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(programs)} programs")
    for col in ("id", "origin", "pattern", "declared", "description"):
        table.add_column(col, overflow="fold")
    if measured:
        table.add_column("runs", justify="right")
        table.add_column("measured outcomes")
        table.add_column("manifest", justify="right")
    for p in programs:
        cells = [p.id, p.origin, p.pattern, ",".join(p.expected), p.description[:80]]
        if measured:
            m = measured.get(p.id)
            if m is None:
                cells += ["0", "", ""]
            else:
                rate = m.manifestation_rate  # type: ignore[attr-defined]
                cells += [str(m.runs), " ".join(f"{k}={v}" for k, v in m.outcomes.items()), "" if rate is None else f"{rate:.2f}"]  # type: ignore[attr-defined]
        table.add_row(*cells)
    console.print(table)
    by_origin: dict[str, int] = {}
    for p in programs:
        by_origin[p.origin] = by_origin.get(p.origin, 0) + 1
    console.print(", ".join(f"{o}: {n}" for o, n in by_origin.items()) or "no programs", highlight=False)


@app.command("show")
def show_cmd(
    program_id: Annotated[str, typer.Argument(help="Program id (see `schedcast corpus list`).")],
    gobench: GobenchOpt = None,
    runs: RunsDirOpt = None,
    count: CountOpt = 200,
    seed: SeedOpt = 0,
    source: Annotated[bool, typer.Option("--source", help="Print the Go sources too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one program: declared metadata, measured metadata (with --runs), sources."""
    origins = list(DEFAULT_ORIGINS) + (["gobench"] if gobench else [])
    matches = [p for p in _programs(origins, gobench, count, seed) if p.id == program_id]
    if not matches:
        fail(f"no program {program_id!r} (see `schedcast corpus list`)")
    p = matches[0]
    m = _measured(runs).get(p.id)
    info = _declared(p)
    info["measured"] = m.to_json() if m is not None else None  # type: ignore[attr-defined]
    if as_json:
        if source:
            info["sources"] = p.sources
        print(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        if key == "measured" and value is not None:
            for mk, mv in value.items():  # type: ignore[union-attr]
                console.print(f"[bold]measured.{mk}[/]: {mv}", highlight=False, soft_wrap=True)
        else:
            console.print(f"[bold]{key}[/]: {value}", highlight=False, soft_wrap=True)
    if runs is not None and m is None:
        console.print(f"[yellow]no runs of {p.id} in {runs}[/]")
    if source:
        for name, text in sorted(p.sources.items()):
            console.rule(name)
            console.print(text, highlight=False, markup=False)


@app.command("generate")
def generate_cmd(
    count: CountOpt = 200,
    seed: SeedOpt = 0,
    template: Annotated[Optional[list[str]], typer.Option("--template", help="Only these templates (repeatable).")] = None,
    bug_probability: Annotated[float, typer.Option(help="Share of programs with an injected bug.")] = 0.6,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write each program as OUT/<id>/{main.go,program.toml}.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate programs from a seed (byte-identical for the same arguments)."""
    from schedcast.corpus.generator import TEMPLATE_BY_NAME, generate

    unknown = [t for t in template or [] if t not in TEMPLATE_BY_NAME]
    if unknown:
        fail(f"unknown template(s) {unknown}; choose from {sorted(TEMPLATE_BY_NAME)}")
    if count < 0:
        fail("--count must be >= 0")
    if not 0.0 <= bug_probability <= 1.0:
        fail("--bug-probability must be between 0 and 1")
    try:
        g = generate(count, seed, templates=tuple(template) if template else None, bug_probability=bug_probability)
    except RuntimeError as exc:
        fail(str(exc))
    if out is not None:
        for p in g.programs:
            write_program(p, out / p.id)
    if as_json:
        print(json.dumps([_declared(p) for p in g.programs], indent=2))
        return
    table = Table(title=f"{len(g.programs)} programs from seed {seed} ({len(g.duplicates)} near-duplicates dropped)")
    for col in ("template", "bug", "declared", "programs"):
        table.add_column(col)
    counts: dict[tuple[str, str, str], int] = {}
    for p in g.programs:
        key = (p.extra["template"], p.extra["bug"] or "-", ",".join(p.expected))
        counts[key] = counts.get(key, 0) + 1
    for (t, b, e), n in sorted(counts.items()):
        table.add_row(t, b, e, str(n))
    console.print(table)
    if out is not None:
        console.print(f"written to {out}/<id>/ (collect them with `schedcast collect {out}/*`)", highlight=False)


@app.command("import-gobench")
def import_gobench_cmd(
    path: Annotated[Path, typer.Argument(help="A GoBench checkout (or its gobench/ folder).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the imported programs to.")] = Path("gobench-programs"),
    build_check: Annotated[bool, typer.Option("--build-check/--no-build-check", help="Compile every kernel (race build) and skip those that fail.")] = True,
) -> None:
    """Import every GoKer kernel of a GoBench checkout as a test-kernel program."""
    from schedcast.collect.build import compile_error
    from schedcast.corpus.gobench import import_gobench

    try:
        result = import_gobench(path, out, check_build=compile_error if build_check else None)
    except ProgramError as exc:
        fail(str(exc))
        return
    for s in result.skipped:
        err_console.print(f"[yellow]skipped[/] {s.where}: {s.reason}", highlight=False, soft_wrap=True)
    console.print(f"{result.summary()} -> {out}", highlight=False)
    if not result.programs:
        raise typer.Exit(1)


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="Folder to write program folders to.")],
    origin: OriginOpt = None,
    pattern: PatternOpt = None,
    outcome: OutcomeOpt = None,
    count: CountOpt = 200,
    seed: SeedOpt = 0,
) -> None:
    """Write the selected programs as OUT/<id>/ folders that `schedcast collect` reads."""
    from schedcast.corpus.catalog import select_programs

    programs = select_programs(_programs(origin, None, count, seed), pattern=pattern or (), outcome=outcome or ())
    for p in programs:
        write_program(p, out / p.id)
    console.print(f"{len(programs)} programs written to {out}", highlight=False)


@app.command("table")
def table_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Collection directories (their programs are measured together).")],
    traces: Annotated[bool, typer.Option("--traces/--no-traces", help="Read traces for goroutine counts and nondeterminism.")] = True,
    per_program: Annotated[bool, typer.Option("--per-program", help="Add a per-program table.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the Markdown here instead of printing it.")] = None,
    current: Annotated[bool, typer.Option("--current", help="Count only runs of the current versions of built-in, hand-crafted, generated and GoKer programs (drops everything else).")] = False,
) -> None:
    """Markdown table per origin: programs, runs, outcome mix, manifestation, nondeterminism."""
    from schedcast.dataset.measure import origin_table_markdown, program_table_markdown

    from schedcast.dataset.measure import measure_collection

    measured: dict[str, object] = {}
    programs = _programs(None, None, 200, 0) if current else None
    for d in runs:
        if current:
            if not (d / "runs.parquet").exists():
                fail(f"{d}: not a collection directory")
            measured.update(measure_collection(d, programs=programs, traces=traces))
        else:
            measured.update(_measured(d, traces=traces))
    text = origin_table_markdown(measured)  # type: ignore[arg-type]
    if per_program:
        text += "\n" + program_table_markdown(measured)  # type: ignore[arg-type]
    if out is not None:
        out.write_text(text)
        console.print(f"written to {out}", highlight=False)
    else:
        print(text, end="")


@app.command("facts")
def facts_cmd(
    target: Annotated[Optional[str], typer.Argument(help="A program id, a .go file or a program directory (omit for every program of --origin).")] = None,
    origin: OriginOpt = None,
    count: CountOpt = 200,
    seed: SeedOpt = 0,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse cached answers; --no-cache analyses again (a cold measurement).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Static concurrency facts read with Go's own parser: per source line, the operation and what can follow it."""
    import time

    from schedcast.corpus.facts import facts_for
    from schedcast.corpus.program import load_program
    from schedcast.terminal import console as out, err_console as err

    if target is not None:
        if origin:
            fail("give a TARGET or --origin, not both")
        if Path(target).exists():
            try:
                programs = [load_program(Path(target))]
            except ProgramError as exc:
                fail(str(exc))
        else:
            origins = list(DEFAULT_ORIGINS)
            programs = [p for p in _programs(origins, None, count, seed) if p.id == target]
            if not programs:
                fail(f"no program or path {target!r} (see `schedcast corpus list`)")
    else:
        programs = _programs(origin, None, count, seed)
    started = time.perf_counter()
    results = facts_for(programs, use_cache=cache)
    elapsed = time.perf_counter() - started
    if as_json:
        print(json.dumps({p.id: f.to_json() for p, f in zip(programs, results)}, indent=2))
        return
    if target is not None:
        facts = results[0]
        if not facts.sites and facts.parse_errors:
            fail(f"{programs[0].id}: no source facts: {facts.parse_errors[0]}")
        table = Table(title=f"{programs[0].id}: {len(facts.sites)} sites ({'type-checked' if facts.typed else 'not fully type-checked'})")
        table.add_column("site", no_wrap=True)
        for col in ("func", "op", "detail", "next"):
            table.add_column(col, overflow="fold")
        for s in facts.sites:
            detail = " ".join(
                f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in s.detail.items()
            )
            table.add_row(s.site, s.func, s.op, detail, " ".join(s.next_ops) or "-")
        out.print(table)
        for e in facts.parse_errors:
            err.print(f"[yellow]warning:[/] {e}", highlight=False, soft_wrap=True)
        return
    table = Table(title=f"{len(programs)} programs")
    for col in ("id", "typed", "sites", "most common operations", "errors"):
        table.add_column(col, overflow="fold")
    for p, f in zip(programs, results):
        ops = sorted(((n, op) for op, n in f.counts().items() if n and op not in ("return", "func_end", "func_start")), reverse=True)
        table.add_row(p.id, "yes" if f.typed else "no", str(len(f.sites)), " ".join(f"{op}={n}" for n, op in ops[:5]), (f.parse_errors or ("",))[0][:80])
    out.print(table)
    untyped = sum(1 for f in results if not f.typed)
    out.print(
        f"{len(programs)} programs, {untyped} not fully type-checked; facts in {elapsed:.2f} s "
        f"({'cache on' if cache else 'cache off: every program analysed again'})",
        highlight=False,
        soft_wrap=True,
    )
