"""The main job over the stage APIs: corpus -> collect -> dataset -> train -> evaluate
(-> probe) -> report, each stage skipped when its output's key matches (stages.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from schedcast import __version__
from schedcast.collect import RunStore, collect
from schedcast.collect.executor import Executor, ExecutorError, make_executor
from schedcast.collect.runner import RunConfig
from schedcast.collect.sandbox import Limits
from schedcast.corpus.api import Corpus, CorpusSpec, select_corpus
from schedcast.dataset import BuildOptions, BuildReport, build_dataset
from schedcast.dataset.stats import dataset_stats
from schedcast.evaluate.api import EvaluateInputs, EvaluateResult, run_evaluation
from schedcast.evaluate.output import print_evaluation
from schedcast.models.api import train_baselines, train_structural
from schedcast.models.fitting import StructuralOptions
from schedcast.pipeline.config import ConfigError, PipelineConfig, ProbeConfig, section_dict, to_toml
from schedcast.pipeline.stages import (
    MANIFEST,
    Manifest,
    check_stage,
    clean_temporaries,
    commit_stage,
    new_tmp,
    read_manifest,
    stage_key,
    write_manifest,
)
from schedcast.probe import ProbeOptions, run_probe, write_probe_outputs
from schedcast.probe.probe import summary_rows
from schedcast.report import ReportResult, build_report
from schedcast.toolchain import find_toolchain

CONFIG_FILE = "pipeline.toml"  # the effective configuration, written into OUT
TIMINGS_FILE = "timings.json"  # stage wall times: the one output that differs between identical runs (by design)
COLLECT_MANIFEST = "collect-manifest"  # the collection is OUT itself (the run store removes dot-files there)
TIMING_KEYS = ("seconds", "fit_seconds", "fit_cpu_seconds")  # wall times stages write into their JSON files; moved to timings.json


def move_timings(root: Path) -> dict[str, float]:
    """Take the wall times out of the JSON files a stage wrote (dataset.json's build
    time, a model's fit time) so that its output depends on its inputs only; returns
    them, by file and key, for timings.json."""
    found: dict[str, float] = {}

    def strip(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key in list(node):
                if key in TIMING_KEYS and isinstance(node[key], (int, float)):
                    found[f"{where}.{key}"] = float(node.pop(key))
                else:
                    strip(node[key], f"{where}.{key}")

    for path in sorted(root.glob("*.json")):
        text = path.read_text()
        blob = json.loads(text)
        before = len(found)
        strip(blob, path.name)
        if len(found) != before:  # written back in the file's own layout
            path.write_text(json.dumps(blob, indent=2 if "\n" in text.strip() else None) + ("\n" if text.endswith("\n") else ""))
    return found


@dataclass
class StageRun:
    name: str
    skipped: bool
    seconds: float
    note: str = ""


@dataclass
class PipelineResult:
    out: Path
    config: PipelineConfig
    stages: list[StageRun] = field(default_factory=list)
    corpus: Corpus | None = None
    dataset: BuildReport | None = None
    evaluation: EvaluateResult | None = None
    report: ReportResult | None = None
    seconds: float = 0.0

    def stage(self, name: str) -> StageRun:
        return next(s for s in self.stages if s.name == name)


def validate(config: PipelineConfig) -> None:
    c, e = config.collect, config.evaluate
    if c.runs < 1 or c.gomaxprocs < 1:
        raise ConfigError("collect.runs (--runs) and collect.gomaxprocs (--gomaxprocs) must be at least 1")
    if c.timeout <= 0:
        raise ConfigError("collect.timeout (--timeout) must be positive")
    if e.boot < 1:
        raise ConfigError(f"evaluate.boot (--boot) must be at least 1 (got {e.boot})")
    if not 0 <= config.dataset.validation < 1:
        raise ConfigError("dataset.validation must be in [0, 1)")
    if config.corpus.generated < 0:
        raise ConfigError("corpus.generated (--generated) must be >= 0")
    if config.corpus.stress_copies < 0:
        raise ConfigError("corpus.stress_copies (--stress-copies) must be >= 0 (0: off)")


def main_job_command(out: Path, config: PipelineConfig) -> str:
    """The command that makes this output (the results page's first row)."""
    c, k = config.collect, config.corpus
    args = ["schedcast", "pipeline", "--out", str(out)]
    if config.preset != "demo":
        args += ["--preset", config.preset]
    args += ["--runs", str(c.runs), "--gomaxprocs", str(c.gomaxprocs), "--timeout", str(c.timeout)]
    args += ["--race" if c.race else "--no-race", "--seed", str(c.seed)]
    args += ["--generated", str(k.generated), "--test-forms" if k.test_forms else "--no-test-forms"]
    args += ["--stress-copies", str(k.stress_copies)]
    args += [a for d in k.gobench for a in ("--gobench", d)]
    args += [a for p in k.programs for a in ("--program", p)]
    if config.evaluate.markdown is not None:
        args += ["--markdown", config.evaluate.markdown]
    if config.evaluate.ablations:
        args += ["--ablations"]
    if config.train.trajectory:
        args += ["--trajectory"]
    if config.probe.enabled:
        args += ["--probe"]
    return " ".join(shlex.quote(a) for a in args)


def _no_workers(section: Any) -> dict[str, Any]:
    d = section_dict(section)
    for where in ("workers", "executor", "scheduler"):  # where the work runs never changes the results
        d.pop(where, None)
    return d


def _corpus_digest(corpus: Corpus) -> str:
    rows = sorted((p.id, p.source_hash, p.origin) for p in corpus.programs)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _collection_digest(out: Path) -> str:
    """A digest of every stored run (the rows of the run table, in run-id order)."""
    store = RunStore(out)
    store.consolidate()
    rows = sorted(store.read_runs().to_pylist(), key=lambda r: str(r["run_id"]))
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class _Runner:
    """Runs the stages in order, skipping those whose output's key matches."""

    def __init__(self, out: Path, console: Console) -> None:
        self.out = out
        self.console = console
        self.stages: list[StageRun] = []
        self.digests: dict[str, str] = {}
        self.timings: dict[str, float] = {}  # wall times taken out of the stages' files

    def rule(self, text: str) -> None:
        self.console.rule(text)

    def directory_stage(self, name: str, target: Path, section: dict[str, Any], inputs: list[str], make) -> bool:  # type: ignore[no-untyped-def]
        """Run `make(tmp_dir)` unless `target` holds this key's output; returns True if it ran."""
        started = time.monotonic()
        key = stage_key(name, section, {i: self.digests[i] for i in inputs})
        state = check_stage(target, name, key)
        if state.done:
            manifest = read_manifest(target)
            assert manifest is not None
            self.digests[name] = manifest.output
            self.console.print(f"{name}: up to date ({target}), skipped", highlight=False, soft_wrap=True)
            self.stages.append(StageRun(name, True, time.monotonic() - started))
            return False
        if state.note:
            self.console.print(f"[yellow]{name}:[/] {state.note}; kept beside it as {target.name}.old-*, rebuilding", highlight=False, soft_wrap=True)
        tmp = new_tmp(target.parent, target.name)
        make(tmp)
        self.timings.update({f"{name}/{k}": v for k, v in move_timings(tmp).items()})
        manifest = commit_stage(tmp, target, name, key, keep_old=bool(state.note))
        self.digests[name] = manifest.output
        self.stages.append(StageRun(name, False, time.monotonic() - started, state.note))
        return True


def run_pipeline(config: PipelineConfig, out: Path, console: Console | None = None) -> PipelineResult:
    """The main job (docs/pipeline.md). Every stage's output carries a manifest with the key
    of its inputs; a rerun skips finished stages, and a killed run resumes where it stopped."""
    console = console or Console(stderr=True)
    validate(config)
    c = config.collect
    try:
        executor = make_executor(c.executor, c.scheduler, c.workers)
    except ExecutorError as exc:
        raise ConfigError(f"collect.executor: {exc}") from exc
    with executor:
        return _run(config, out, console, executor)


def _run(config: PipelineConfig, out: Path, console: Console, executor: Executor) -> PipelineResult:
    distributed = config.collect.executor == "dask"  # else dataset extraction keeps its own process pool
    started = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_temporaries(out)
    _write_atomic(out / CONFIG_FILE, to_toml(config))
    result = PipelineResult(out, config)
    runner = _Runner(out, console)
    command = main_job_command(out, config)

    # 1. corpus
    k = config.corpus
    corpus = select_corpus(CorpusSpec(k.generated, k.test_forms, tuple(Path(d) for d in k.gobench), k.programs, k.stress_copies))
    result.corpus = corpus
    if corpus.duplicates:
        console.print(f"{len(corpus.duplicates)} GoKer kernels left out: the same bugs as GoBench kernels, which are tested instead", highlight=False)
    for pid, why in sorted(corpus.unconverted.items()):
        console.print(f"no test-kernel form of {pid}: {why}", highlight=False, soft_wrap=True)
    runner.digests["corpus"] = _corpus_digest(corpus)

    # 2. collect: the collection is OUT itself; the collector stores each run atomically and skips stored ones.
    c = config.collect
    runner.rule(f"1/5 collect: {len(corpus.programs)} programs x {c.runs} runs ({', '.join(corpus.origins)})")
    t0 = time.monotonic()
    key = stage_key("collect", _no_workers(c), {"corpus": runner.digests["corpus"]})
    manifest = read_manifest(out / COLLECT_MANIFEST)
    if manifest is not None and manifest.stage == "collect" and manifest.key == key and manifest.version == __version__:
        runner.digests["collect"] = manifest.output
        console.print(f"collect: up to date ({out}), skipped", highlight=False, soft_wrap=True)
        runner.stages.append(StageRun("collect", True, time.monotonic() - t0))
    else:
        (out / COLLECT_MANIFEST).mkdir(exist_ok=True)
        (out / COLLECT_MANIFEST / MANIFEST).unlink(missing_ok=True)
        run_config = RunConfig(runs=c.runs, gomaxprocs=c.gomaxprocs, race=c.race, seed=c.seed, limits=Limits(wall_seconds=c.timeout))
        summary = collect(corpus.programs, out, run_config, executor=executor, console=console)
        for program_id, message in sorted(summary.build_errors.items()):
            first = message.splitlines()[-1] if message else ""
            console.print(f"[yellow]build error[/] {program_id}: {first}", highlight=False, soft_wrap=True)
        console.print(
            f"{summary.executed} runs executed, {summary.already_done} already stored, {summary.programs} programs, "
            f"{summary.elapsed_s:.1f} s -> {out}", highlight=False, soft_wrap=True,
        )
        digest = _collection_digest(out)
        write_manifest(out / COLLECT_MANIFEST, Manifest("collect", __version__, key, digest))
        runner.digests["collect"] = digest
        runner.stages.append(StageRun("collect", False, time.monotonic() - t0))

    # 3. dataset
    d = config.dataset
    runner.rule("2/5 dataset")

    def make_dataset(tmp: Path) -> None:
        report = build_dataset(out, tmp, BuildOptions(validation_fraction=d.validation, workers=d.workers, keep_runtime=d.keep_runtime), executor=executor if distributed else None)
        result.dataset = report
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items())) or "none"
        console.print(
            f"{report.runs_used} of {report.runs_total} runs used (skipped: {skipped}), {report.programs} programs, "
            f"{report.events} events, {sum(report.examples.values())} examples, {report.seconds:.1f} s",
            highlight=False, soft_wrap=True,
        )

    runner.directory_stage("dataset", out / "dataset", _no_workers(d), ["collect"], make_dataset)
    stats = dataset_stats(out / "dataset")
    console.print(
        "examples: " + ", ".join(f"{k} {v}" for k, v in stats["examples"].items())
        + "; programs: " + ", ".join(f"{k} {v}" for k, v in stats["programs"].items()),
        highlight=False, soft_wrap=True,
    )

    # 4. train
    t = config.train
    runner.rule("3/5 fit baselines and the structural predictor" + (" and the trajectory model" if t.trajectory else ""))

    def make_models(tmp: Path) -> None:
        baselines = train_baselines(out / "dataset", tmp, "paper")
        console.print(baselines.summary(out / "models"), highlight=False, soft_wrap=True)
        if t.structural:
            structural = train_structural(out / "dataset", tmp, StructuralOptions(max_iter=t.max_iter, folds=t.folds, deals=t.deals, positions_per_run=t.positions, seed=t.seed))
            console.print(structural.summary().replace(str(tmp), str(out / "models")), highlight=False, soft_wrap=True)
        if t.trajectory:
            _train_trajectory(out / "dataset", tmp, t.trajectory_epochs, t.seed, console)

    runner.directory_stage("train", out / "models", section_dict(t), ["dataset"], make_models)

    # 5. evaluate
    e = config.evaluate
    runner.rule("4/5 evaluate on the held-out real-world kernels")
    made_by = {
        "main job": command,
        "corpus": corpus.describe(k.test_forms, k.stress_copies),
        "collection": f"{c.runs} runs per program, GOMAXPROCS={c.gomaxprocs}, race build={c.race}, wall limit {c.timeout} s "
        f"(programs may declare less), base seed {c.seed}, {find_toolchain().version}",
    }
    evaluate_command = " ".join(shlex.quote(a) for a in [
        "schedcast", "evaluate", str(out / "dataset"), str(out / "models"), "--split", "test", "--protocol", "paper",
        "--grouping", "paper", "--boot", str(e.boot), "--seed", str(e.seed),
    ] + (["--ablations"] if e.ablations else []))
    inputs = EvaluateInputs(
        dataset=out / "dataset", models=(out / "models",), boot=e.boot, seed=e.seed, ablations=e.ablations,
        made_by=made_by, command=evaluate_command,
    )

    def make_results(tmp: Path) -> None:
        ev = run_evaluation(inputs, tmp, tmp / "results.md", executor=executor if distributed else None)
        result.evaluation = ev
        print_evaluation(ev.evaluation, console)
        if ev.ablations_section:
            console.print(ev.ablations_section, markup=False, highlight=False)

    eval_section = {**section_dict(e), "made_by": made_by, "command": evaluate_command}
    eval_section.pop("markdown")
    runner.directory_stage("evaluate", out / "results", eval_section, ["dataset", "train"], make_results)
    if e.markdown is not None:
        target = Path(e.markdown)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "results" / "results.md", target)
        console.print(f"results page -> {target}", highlight=False)

    # 6. probe (the slot for issue 14: off in demo until its cost is measured)
    report_inputs = ["collect", "dataset", "train", "evaluate"]
    if config.probe.enabled:
        runner.rule("probe: roll the models forward from held-out prefixes")
        p = config.probe
        runner.directory_stage("probe", out / "probe", section_dict(p), ["dataset", "train"], lambda tmp: _probe(out, tmp, p, console, runner.timings))
        report_inputs.append("probe")

    # 7. report
    if config.report.enabled:
        runner.rule("5/5 the HTML report")
        command_line = f"schedcast report {shlex.quote(str(out))}"

        def make_report(tmp: Path) -> None:
            result.report = build_report(out, tmp, command=command_line)

        runner.directory_stage("report", out / "report", {"command": command_line}, report_inputs, make_report)

    result.stages = runner.stages
    result.seconds = time.monotonic() - started
    timings = {
        "total_s": round(result.seconds, 3),
        "stages": {s.name: {"seconds": round(s.seconds, 3), "skipped": s.skipped} for s in runner.stages},
        "in_files": runner.timings,
    }
    _write_atomic(out / TIMINGS_FILE, json.dumps(timings, indent=2) + "\n")
    return result


def _train_trajectory(dataset: Path, out: Path, epochs: int, seed: int, console: Console) -> None:
    """The trajectory model's slot (issue 14)."""
    from schedcast.models.api import train_trajectory  # noqa: PLC0415 - needs torch, installed with schedcast[ml]

    trained = train_trajectory(dataset, out, epochs=epochs, seed=seed)
    console.print(trained.summary(), highlight=False, soft_wrap=True)


def _probe(out: Path, tmp: Path, p: ProbeConfig, console: Console, timings: dict[str, float]) -> None:
    """Roll every model of OUT/models forward from the held-out prefixes (docs/probe.md)
    and write the probe's tables and its results-page section (probe.md) into tmp. The
    rollout speeds are wall-clock figures: they go to timings.json, not into the tables."""
    options = ProbeOptions(horizon=p.horizon, samples=p.samples, runs_per_program=p.runs_per_program, seed=p.seed)
    command = " ".join(shlex.quote(a) for a in [
        "schedcast", "probe", str(out / "dataset"), str(out / "models"), "-H", str(p.horizon), "-S", str(p.samples),
        "--runs-per-program", str(p.runs_per_program), "--seed", str(p.seed), "--out", str(out / "probe"),
    ])
    result = run_probe(out / "dataset", [out / "models"], options)
    for r in result.results:
        timings[f"probe/{r.model}.{r.mode}.steps_per_second"] = r.steps_per_second
    result = dataclasses.replace(result, results=[dataclasses.replace(r, steps_per_second=float("nan")) for r in result.results])
    write_probe_outputs(result, tmp, command)
    for row in summary_rows(result):
        console.print(
            f"probe {row['model']} ({row['mode']}): survival mean {row['survival_mean']:.1f}, median {row['survival_median']:.0f} "
            f"of {p.horizon} steps; mean TV k=1..{p.horizon} {row['mean_tv']:.3f}",
            highlight=False, soft_wrap=True,
        )


__all__ = ["CONFIG_FILE", "TIMINGS_FILE", "PipelineResult", "StageRun", "main_job_command", "run_pipeline", "validate"]
