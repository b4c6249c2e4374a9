from __future__ import annotations

import time
from pathlib import Path

import pytest

from schedcast.collect.build import BuildError, build, build_key, harness_sources
from schedcast.corpus import load_program
from schedcast.toolchain import find_toolchain

from .conftest import write_program

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'


def test_second_build_is_a_cache_hit(tmp_path: Path) -> None:
    program = load_program(write_program(tmp_path / "hello", HELLO))
    first = build(program, race=False)
    start = time.monotonic()
    second = build(program, race=False)
    assert second.cached
    assert second.binary == first.binary and second.binary.is_file()
    assert time.monotonic() - start < 0.5


def test_key_covers_flags_toolchain_and_language_version(tmp_path: Path) -> None:
    program = load_program(write_program(tmp_path / "hello", HELLO))
    legacy = load_program(write_program(tmp_path / "legacy", HELLO, toml='language_version = "1.21"\n'))
    version = find_toolchain().version
    keys = {
        build_key(program, True, version),
        build_key(program, False, version),
        build_key(program, True, "go1.99.0"),
        build_key(legacy, True, version),
    }
    assert len(keys) == 4


def test_compile_error_carries_the_compiler_message(tmp_path: Path) -> None:
    bad = load_program(write_program(tmp_path / "bad", 'package main\n\nfunc main() { var x int = "s"; _ = x }\n'))
    with pytest.raises(BuildError) as info:
        build(bad, race=False)
    assert "main.go:3" in info.value.compiler_output
    assert "cannot use" in info.value.compiler_output
    assert str(tmp_path) not in info.value.compiler_output


def test_non_std_import_is_a_build_error_not_a_download(tmp_path: Path) -> None:
    prog = load_program(
        write_program(tmp_path / "dep", 'package main\n\nimport "github.com/x/y"\n\nfunc main() { y.Z() }\n')
    )
    with pytest.raises(BuildError, match="github.com/x/y"):
        build(prog, race=False)


def test_harness_renames_main_and_keeps_user_files(tmp_path: Path) -> None:
    program = load_program(write_program(tmp_path / "hello", HELLO))
    files = harness_sources(program)
    assert "func schedcastUserMain()" in files["main.go"]
    assert "func main()" not in files["main.go"]
    assert "func main()" in files["zz_schedcast_main.go"]
    assert sorted(files)[0] == "00_schedcast_harness.go"  # its init runs first
