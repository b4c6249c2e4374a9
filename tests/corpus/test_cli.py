"""`schedcast corpus` commands, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from schedcast.corpus.cli import app
from schedcast.corpus.program import load_program
from tests.corpus.test_gobench import write_tree

runner = CliRunner()


def _json(args: list[str]) -> list[dict[str, object]]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_shows_every_default_origin() -> None:
    rows = _json(["list", "--json"])
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["origin"])] = counts.get(str(r["origin"]), 0) + 1
    assert counts["handcrafted"] >= 40 and counts["generated"] == 200 and counts["goker"] >= 60 and counts["builtin"] == 10


def test_list_filters() -> None:
    rows = _json(["list", "--json", "--origin", "handcrafted", "--pattern", "select", "--outcome", "leak"])
    assert rows and all(r["origin"] == "handcrafted" and r["pattern"] == "select" and "leak" in r["expected"] for r in rows)  # type: ignore[operator]
    rows = _json(["list", "--json", "--origin", "generated", "--count", "5", "--seed", "3"])
    assert len(rows) == 5


def test_list_with_measured_metadata(handcrafted_collection: tuple[Path, pa.Table]) -> None:
    out, _ = handcrafted_collection
    rows = _json(["list", "--json", "--origin", "handcrafted", "--runs", str(out)])
    by_id = {r["id"]: r for r in rows}
    measured = by_id["chan_early_return_leak"]["measured"]
    assert measured["manifestation_rate"] == 1.0 and measured["runs"] >= 1  # type: ignore[index]
    result = runner.invoke(app, ["table", str(out), "--per-program"])
    assert result.exit_code == 0 and "| handcrafted |" in result.stdout and "| chan_ping_pong |" in result.stdout


def test_show_and_unknown_program() -> None:
    info = _json(["show", "select_four_case_leak", "--json", "--source"])
    assert info["pattern"] == "select" and "main.go" in info["sources"]  # type: ignore[operator]
    result = runner.invoke(app, ["show", "no_such_program"])
    assert result.exit_code == 1 and "no program 'no_such_program'" in result.output


def test_generate_writes_loadable_programs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--count", "6", "--seed", "4", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    dirs = sorted(tmp_path.iterdir())
    assert len(dirs) == 6
    p = load_program(dirs[0])
    assert p.origin == "generated" and p.extra["seed"] == "4"
    again = _json(["generate", "--count", "6", "--seed", "4", "--json"])
    assert sorted(r["id"] for r in again) == [d.name for d in dirs]
    assert runner.invoke(app, ["generate", "--template", "nope"]).exit_code == 1


def test_import_gobench_command(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "checkout")
    out = tmp_path / "programs"
    result = runner.invoke(app, ["import-gobench", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 kernels imported (1 blocking, 1 nonblocking), 3 skipped" in result.output
    assert "no metadata entry 'moby_1'" in result.output
    rows = _json(["list", "--json", "--gobench", str(out), "--origin", "gobench"])
    assert sorted(r["id"] for r in rows) == ["gobench_etcd_7443", "gobench_kubernetes_3"]
    bad = runner.invoke(app, ["import-gobench", str(tmp_path / "nowhere")])
    assert bad.exit_code == 1 and "no such directory" in bad.output


def test_export_writes_collectable_folders(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(tmp_path), "--origin", "goker", "--pattern", "cond"])
    assert result.exit_code == 0, result.output
    exported = [load_program(d) for d in sorted(tmp_path.iterdir())]
    assert exported and all(p.origin == "goker" and p.args for p in exported)
