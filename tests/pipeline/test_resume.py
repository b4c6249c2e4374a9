"""Resumption: kill -9 the pipeline anywhere, rerun, and get the same files as a run
that was never interrupted. Config errors: one clear line each."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schedcast import __version__
from schedcast.cli import app
from schedcast.collect.store import RunStore
from schedcast.pipeline import ConfigError, load_config, preset, to_toml
from schedcast.pipeline.stages import MANIFEST, Manifest, check_stage, commit_stage, new_tmp, write_manifest

# Two small programs to train on, one GoKer kernel held out, two runs each.
TINY = """\
preset = "demo"

[corpus]
generated = 0
programs = ["ok_pipeline", "leak_select_two", "race_counter", "goker_grpc660"]

[collect]
runs = 2

[evaluate]
boot = 50
"""
# Files that differ between two identical runs by design: the store's lock (it holds
# the writer's pid) and the stage wall times.
NOT_COMPARED = {".lock", "timings.json"}
STAGE_DIRS = ("dataset", "models", "results", "report")


def pipeline(config: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "schedcast", "pipeline", "--config", str(config), "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def finish(config: Path, out: Path) -> None:
    proc = pipeline(config, out)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err.decode()[-3000:]


def kill_at(config: Path, out: Path, delay: float) -> bool:
    """Start the pipeline, SIGKILL its whole process group after `delay` s; True if it was still running."""
    proc = pipeline(config, out)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name not in NOT_COMPARED}


@pytest.mark.slow
def test_kill_anywhere_then_rerun_gives_identical_outputs(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    finish(config, out)
    timings = json.loads((out / "timings.json").read_text())
    reference = tmp_path / "reference"
    out.rename(reference)
    rng = random.Random(17)

    # Kills during collection: the rerun completes the same runs (traces differ from run
    # to run by nature, so the collection is compared by its run ids).
    collect_s = max(timings["stages"]["collect"]["seconds"], 1.0)
    for _ in range(3):
        kill_at(config, out, rng.uniform(0.5, 0.5 + 2 * collect_s))
    finish(config, out)
    ids = sorted(RunStore(out).read_runs().column("run_id").to_pylist())
    assert ids == sorted(RunStore(reference).read_runs().column("run_id").to_pylist())
    assert len(ids) == len(set(ids)) == 4 * 2
    shutil.rmtree(out)

    # Kills anywhere after collection, on the reference's collection: every file of
    # every stage is byte-identical to the uninterrupted run's.
    shutil.copytree(reference, out, ignore=lambda d, names: [n for n in names if Path(d) == reference and n in STAGE_DIRS])
    downstream = timings["total_s"] - timings["stages"]["collect"]["seconds"]
    killed = [kill_at(config, out, rng.uniform(0.5, downstream)) for _ in range(5)]
    assert any(killed), "no kill landed while the pipeline ran"
    finish(config, out)
    got, want = files(out), files(reference)
    assert sorted(got) == sorted(want)
    different = [name for name in want if got[name] != want[name]]
    assert not different, f"files differ after kill -9 and rerun: {different}"
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]

    # A rerun with nothing changed skips every stage.
    finish(config, out)
    again = json.loads((out / "timings.json").read_text())["stages"]
    assert all(stage["skipped"] for stage in again.values()), again


def test_config_file_preset_and_overrides(tmp_path: Path) -> None:
    assert preset("paper").collect.runs == 5 and preset("paper").collect.race
    assert preset("demo").collect.runs == 10 and not preset("demo").train.trajectory and not preset("demo").probe.enabled
    full = preset("full")
    assert full.corpus.test_forms and full.evaluate.ablations and full.train.trajectory and full.collect.runs > 10
    path = tmp_path / "c.toml"
    path.write_text('preset = "paper"\n[collect]\nruns = 3\n[corpus]\nprograms = ["ok_pipeline"]\n')
    config = load_config(path)
    assert config.preset == "paper" and config.collect.runs == 3 and config.corpus.programs == ("ok_pipeline",)
    # What the pipeline writes into OUT reads back as the same configuration.
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load_config(again) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[collect]\nrnus = 3\n", "unknown key collect.rnus (did you mean 'runs'?)"),
        ("[colect]\nruns = 3\n", "unknown section 'colect' (did you mean 'collect'?)"),
        ('preset = "papr"\n', "unknown preset 'papr' (did you mean 'paper'?)"),
        ('[collect]\nruns = "ten"\n', "collect.runs must be an integer (got 'ten')"),
        ("runs = 3\n", "unknown key 'runs'"),
        ("[collect\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(path)
    assert message in str(caught.value)
    result = CliRunner().invoke(app, ["pipeline", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "out").exists()


def test_preset_typo_on_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pipeline", "--preset", "ful", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "unknown preset 'ful' (did you mean 'full'?)" in result.output and len(result.output.strip().splitlines()) == 1


def test_output_of_an_older_version_is_named_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "examples.parquet").write_bytes(b"made by an older schedcast")
    state = check_stage(target, "dataset", "k")
    assert not state.done and "not written by this pipeline" in state.note
    write_manifest(target, Manifest("dataset", "0.0.1", "k", ""))
    state = check_stage(target, "dataset", "k")
    assert not state.done and f"written by schedcast 0.0.1, this is {__version__}" in state.note
    tmp = new_tmp(tmp_path, "dataset")
    (tmp / "examples.parquet").write_bytes(b"new")
    commit_stage(tmp, target, "dataset", "k", keep_old=True)
    assert (target / "examples.parquet").read_bytes() == b"new" and check_stage(target, "dataset", "k").done
    # Nothing finished is lost: the older output is kept beside it.
    assert (tmp_path / "dataset.old-0.0.1" / "examples.parquet").read_bytes() == b"made by an older schedcast"
    assert (target / MANIFEST).is_file() and not tmp.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "threads"], "unknown executor 'threads'"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --executor dask"),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the dask scheduler at tcp://127.0.0.1:9"),
    ],
)
def test_bad_executor_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    result = CliRunner().invoke(app, ["pipeline", "--config", str(config), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_dask_executor_gives_the_local_outputs(tmp_path: Path) -> None:
    """The same collection, then dataset, models, results and report on a 2-process
    dask LocalCluster and locally: where the work runs changes no output."""
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    # The same relative --out and --workers on both sides: the outputs record both.
    local, distributed = tmp_path / "local" / "out", tmp_path / "dask" / "out"
    local.parent.mkdir()
    distributed.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "schedcast", "pipeline", "--config", str(config), "--out", "out", "--workers", "2"],
        capture_output=True, timeout=900, cwd=local.parent,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    shutil.copytree(local, distributed, ignore=shutil.ignore_patterns(*STAGE_DIRS, ".lock"))
    proc = subprocess.run(
        [sys.executable, "-m", "schedcast", "pipeline", "--config", str(config), "--out", "out",
         "--executor", "dask", "--workers", "2"],
        capture_output=True, timeout=900, cwd=distributed.parent,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert "collect: up to date" in proc.stderr.decode()
    for stage in STAGE_DIRS:
        assert files(local / stage) == files(distributed / stage), stage


def test_negative_stress_copies_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pipeline", "--stress-copies", "-1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "corpus.stress_copies (--stress-copies) must be >= 0" in lines[0], result.output
    assert not (tmp_path / "out").exists()
