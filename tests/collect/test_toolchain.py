from __future__ import annotations

from pathlib import Path

import pytest

from schedcast import toolchain
from schedcast.toolchain import PINNED_GO_VERSION, ToolchainError, find_toolchain, go_env, run_go


def test_pinned_toolchain_is_found_and_runs() -> None:
    tc = find_toolchain()
    assert tc.version == PINNED_GO_VERSION
    assert tc.go.is_file()
    assert (tc.goroot / "src" / "runtime").is_dir()
    proc = run_go(["env", "GOVERSION", "GOTOOLCHAIN", "GOPROXY", "GOFLAGS"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [PINNED_GO_VERSION, "local", "off", "-mod=mod"]


def test_environment_is_offline_and_uses_project_cache() -> None:
    env = go_env()
    assert env["GOTOOLCHAIN"] == "local"
    assert env["GOPROXY"] == "off"
    assert env["GOFLAGS"] == "-mod=mod"
    assert env["GOCACHE"].startswith(str(toolchain.cache_dir()))


def test_missing_toolchain_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCHEDCAST_GOROOT", str(tmp_path / "no-go-here"))
    find_toolchain.cache_clear()
    try:
        with pytest.raises(ToolchainError, match="not usable.*pip install"):
            find_toolchain()
    finally:
        monkeypatch.delenv("SCHEDCAST_GOROOT")
        find_toolchain.cache_clear()
