"""The main job end to end, on a small slice of the default corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schedcast.cli import app
from schedcast.corpus import catalog

runner = CliRunner()
KERNELS = ("goker_cockroach1055", "goker_etcd6873", "goker_grpc660", "goker_moby28462")


def test_pipeline_runs_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = catalog.programs_by_origin

    def small_corpus(origins, **kwargs):  # type: ignore[no-untyped-def]
        programs = real(origins, **kwargs)
        # Built-in programs to train on, four GoKer kernels held out.
        return [p for p in programs if p.origin == "builtin" or p.id in KERNELS]

    monkeypatch.setattr(catalog, "programs_by_origin", small_corpus)
    out = tmp_path / "out"
    page = tmp_path / "results.md"
    result = runner.invoke(app, ["pipeline", "--out", str(out), "--runs", "3", "--boot", "100", "--markdown", str(page), "--ablations", "--test-forms"])
    assert result.exit_code == 0, result.output
    assert "evaluate on the held-out real-world kernels" in result.output
    blob = json.loads((out / "results" / "metrics.json").read_text())
    assert blob["split"] == "test" and blob["n_programs"] == len(KERNELS)
    assert {m["name"] for m in blob["models"]} == {"uniform", "prior", "majority", "fsm_prior", "ngram", "structural"}
    # Train-side main programs are also collected in test-kernel form.
    programs = json.loads((out / "results" / "metrics.json").read_text())["context"]["corpus"]
    assert "test-kernel form" in programs
    assert "--runs 3" in blob["context"]["main job"]
    text = page.read_text()
    assert "schedcast pipeline" in text and "oracle, paper groups" in text
    assert "## The structural predictor: ablations" in text and "--test-forms" in text
