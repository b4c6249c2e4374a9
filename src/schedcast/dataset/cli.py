"""`schedcast dataset ...`: build the tables from a collection, print their statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from schedcast.terminal import console, fail
from schedcast.terminal import err_console as err

app = typer.Typer(no_args_is_help=True, help="Next-event examples, distribution groups, splits.")


@app.command("build")
def build_cmd(
    collection: Annotated[Path, typer.Argument(help="Collection directory (from `schedcast collect`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory.")] = Path("schedcast-dataset"),
    all_depths: Annotated[bool, typer.Option("--all-depths/--paper-only", help="Also make an example at every prefix length (the evaluation reads only the paper protocol).")] = False,
    keep_runtime: Annotated[bool, typer.Option("--keep-runtime", help="Keep transitions the runtime makes on a program goroutine's behalf (GC, profilers, tracer; left out by default).")] = False,
    stride: Annotated[int, typer.Option(help="All-depths protocol: keep every STRIDE-th prefix length.")] = 1,
    validation: Annotated[float, typer.Option(help="Share of training programs held out for validation.")] = 0.1,
    workers: Annotated[Optional[int], typer.Option(help="Processes reading traces (default: cores).")] = None,
) -> None:
    """Turn a collection into Parquet tables (programs, runs, events, examples, groups)."""
    from schedcast.dataset.build import BuildOptions, DatasetError, build_dataset
    from schedcast.dataset.splits import SplitError

    if not 0 <= validation < 1:
        fail("--validation must be in [0, 1)")
    try:
        report = build_dataset(collection, out, BuildOptions(all_depths=all_depths, stride=stride, validation_fraction=validation, workers=workers, keep_runtime=keep_runtime))
    except (DatasetError, SplitError) as exc:
        fail(str(exc))
    for run_id, reason, detail in report.skipped_runs[:20]:
        err.print(f"[yellow]skipped[/] run {run_id}: {reason}: {detail}", highlight=False, soft_wrap=True)
    if len(report.skipped_runs) > 20:
        err.print(f"... and {len(report.skipped_runs) - 20} more skipped runs (all listed in {out / 'dataset.json'})")
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items())) or "none"
    err.print(
        f"{report.runs_used} of {report.runs_total} runs used ({report.truncated_runs} truncated but kept; skipped: {skipped}), "
        f"{report.programs} programs, {report.events} events, "
        f"{sum(report.examples.values())} examples, {sum(report.groups.values())} groups, {report.seconds:.1f} s -> {out}",
        highlight=False,
        soft_wrap=True,
    )
    for split, reasons in sorted(report.left_out.items()):
        if reasons:
            what = ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items()))
            err.print(f"left out of {split}: {what} program events (docs/dataset.md)", highlight=False, soft_wrap=True)
    for split, reasons in sorted(report.not_read.items()):
        what = ", ".join(f"{k} in {v:,} runs" for k, v in sorted(reasons.items()))
        err.print(f"not read in {split}: {what} (the trace's rest, not decoded; docs/dataset.md)", highlight=False, soft_wrap=True)
    for goker, gobench in sorted(report.duplicates.items()):
        err.print(f"excluded {goker}: the same bug as {gobench}, which is tested instead", highlight=False, soft_wrap=True)


@app.command("stats")
def stats_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")] = Path("schedcast-dataset"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Examples and groups per split, kind frequencies, sharpness of both groupings."""
    from schedcast.dataset.schema import SchemaError
    from schedcast.dataset.stats import DOMINANCE_WARNING, KIND_NAMES, dataset_stats

    try:
        s = dataset_stats(dataset)
    except SchemaError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(s, indent=2))
        return
    t = Table(title=f"dataset {dataset}")
    t.add_column("what")
    t.add_column("value")
    for split, n in s["programs"].items():
        t.add_row(f"programs / {split}", str(n))
    for key, n in s["examples"].items():
        t.add_row(f"examples / {key}", str(n))
    t.add_row("examples without a next event", str(s["end_of_run_examples"]))
    for grouping, g in s["groupings"].items():
        t.add_row(
            f"grouping {grouping}",
            f"{s['groups'].get(grouping, 0)} groups; per paper example: entropy {g['mean_entropy_bits'] or 0:.3f} bits, size {g['mean_group_size'] or 0:.1f}",
        )
    console.print(t)
    f = Table(title="next-event kind frequency (paper protocol)")
    f.add_column("kind")
    splits = sorted(s["kind_frequency_paper"])
    for split in splits:
        f.add_column(split, justify="right")
    for kind in KIND_NAMES:
        f.add_row(kind, *(f"{100 * s['kind_frequency_paper'][sp][kind]:.1f} %" for sp in splits))
    console.print(f)
    c = Table(title="what each split is made of (paper protocol)")
    c.add_column("split")
    for col in ("programs", "runs", "examples", "events/run median", "events/run max", "largest program share", "left out (program events)", "not read (runs)"):
        c.add_column(col, justify="left" if col.startswith(("left out", "not read")) else "right")
    for split, comp in s["composition"].items():
        top = comp["program_share"][0] if comp["program_share"] else None
        c.add_row(
            split, str(comp["programs"]), str(comp["runs"]), str(comp["examples"]),
            f"{comp['events_per_run_median']:.0f}", str(comp["events_per_run_max"]),
            f"{top['program']} {100 * top['share']:.1f} % of examples, {100 * top['event_share']:.1f} % of events" if top else "-",
            ", ".join(f"{k} {v:,}" for k, v in comp["left_out"].items()) or "none",
            ", ".join(f"{k} {v:,}" for k, v in comp.get("not_read", {}).items()) or "none",
        )
    console.print(c)
    for split, comp in s["composition"].items():
        if comp["dominant_programs"] and comp["programs"] > 1 / DOMINANCE_WARNING:
            err.print(
                f"[yellow]warning[/] {split}: {len(comp['dominant_programs'])} program(s) hold more than "
                f"{100 * DOMINANCE_WARNING:.0f} % of the examples each: {', '.join(comp['dominant_programs'][:5])}",
                highlight=False, soft_wrap=True,
            )
        elif comp["programs"] and comp["programs"] <= 1 / DOMINANCE_WARNING:
            err.print(
                f"[yellow]warning[/] {split}: only {comp['programs']} programs, so each holds more than "
                f"{100 * DOMINANCE_WARNING:.0f} % of the examples", highlight=False, soft_wrap=True,
            )
    if s["excluded_programs"]:
        err.print(f"excluded programs: {', '.join(s['excluded_programs'])}", highlight=False, soft_wrap=True)


@app.command("export")
def export_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (paper-jsonl) or directory (hf).")],
    fmt: Annotated[str, typer.Option("--format", help="paper-jsonl | hf")] = "hf",
    protocol: Annotated[str, typer.Option(help="hf: which examples (paper | all).")] = "paper",
    prompt_format: Annotated[str, typer.Option(help="hf: prompt layout (paper | compact).")] = "paper",
) -> None:
    """Write the paper's JSONL example schema, or a HuggingFace `datasets` dataset."""
    from schedcast.dataset.export import EXPORT_FORMATS, export_hf, export_paper_jsonl
    from schedcast.dataset.prompts import FORMATS
    from schedcast.dataset.schema import SchemaError

    if fmt not in EXPORT_FORMATS:
        fail(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    if protocol not in ("paper", "all"):
        fail("--protocol must be paper or all")
    if prompt_format not in FORMATS:
        fail(f"--prompt-format must be one of {', '.join(FORMATS)}")
    try:
        if fmt == "paper-jsonl":
            n = export_paper_jsonl(dataset, out)
            err.print(f"{n} examples -> {out}")
        else:
            counts = export_hf(dataset, out, protocol=protocol, fmt=prompt_format)
            err.print(f"{counts} -> {out}", highlight=False)
    except (SchemaError, RuntimeError, OSError) as exc:
        fail(str(exc))
