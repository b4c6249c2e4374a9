"""--debug on every sub-command, and the progress lines stages print when piped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from schedcast import terminal
from schedcast.terminal import progress, run_app, set_debug, track


def _schedcast(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schedcast", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args",
    [
        ["dataset", "build", "{missing}", "--out", "{tmp}/ds"],
        ["train", "baselines", "{missing}"],
        ["report", "{missing}"],
        ["leaks", "{missing}"],
        ["collect", "--out", "{tmp}/c", "--executor", "dusk"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_error_is_one_line_and_debug_shows_the_traceback(args: list[str], tmp_path: Path) -> None:
    filled = [a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in args]
    plain = _schedcast(*filled)
    assert plain.returncode != 0
    lines = [line for line in plain.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), plain.stderr
    debug = _schedcast("--debug", *filled)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert lines[0] in debug.stderr  # the same line, after the traceback


def test_an_unexpected_error_is_one_line_unless_debug(capsys: pytest.CaptureFixture[str]) -> None:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise RuntimeError("the disk said no\nsecond line")

    sys.argv = ["schedcast"]
    try:
        with pytest.raises(SystemExit) as exit_:
            run_app(app)
        assert exit_.value.code == 1
        err = capsys.readouterr().err
        assert "internal error: RuntimeError: the disk said no (rerun with --debug" in err
        assert "Traceback" not in err and "second line" not in err
        set_debug(True)
        with pytest.raises(RuntimeError, match="the disk said no"):
            run_app(app)
    finally:
        set_debug(False)


def test_piped_progress_is_parseable_lines(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal, "PIPED_INTERVAL_S", 0.0)  # a line per step
    assert list(track(range(3), "dataset", 3, "runs")) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "progress dataset 0/3 runs", "progress dataset 1/3 runs", "progress dataset 2/3 runs",
        "progress dataset 3/3 runs", "progress dataset 3/3 runs",
    ]
    assert all(line.endswith("s") and float(line.rsplit(" ", 1)[1][:-1]) >= 0 for line in lines)


def test_piped_progress_is_quiet_between_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("report", None, "sections") as steps:
        for _ in range(100):
            steps.advance()
    lines = capsys.readouterr().err.splitlines()
    assert [line.rsplit(" ", 1)[0] for line in lines] == ["progress report 0/? sections", "progress report 100/? sections"]


def test_no_progress_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(track([1, 2], "x", 2, "items", show=False)) == [1, 2]
    assert capsys.readouterr().err == ""
