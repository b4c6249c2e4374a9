from __future__ import annotations

from pathlib import Path

import pytest

from schedcast.corpus import ProgramError, ProgramKind, builtin_programs, load_program

from .conftest import write_program

MAIN = 'package main\n\nfunc main() {}\n'
KERNEL = 'package k\n\nimport "testing"\n\nfunc TestX(t *testing.T) {}\n'


def test_main_package_and_test_kernel_are_told_apart(tmp_path: Path) -> None:
    main = load_program(write_program(tmp_path / "m", MAIN))
    assert (main.kind, main.package) == (ProgramKind.MAIN, "main")
    kernel = load_program(write_program(tmp_path / "k", KERNEL, name="k_test.go"))
    assert (kernel.kind, kernel.package) == (ProgramKind.TEST, "k")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.go": "package lib\n\nfunc F() {}\n"}, "neither a main package"),
        ({"a.go": "func main() {}\n"}, "no package clause"),
        ({"a.go": MAIN, "b.go": MAIN}, "several files"),
        ({"k_test.go": KERNEL.replace("func TestX", "func TestMain(m *testing.M) {}\nfunc TestX")}, "TestMain"),
        ({}, "no .go files"),
    ],
)
def test_unusable_programs_name_the_problem(tmp_path: Path, files: dict[str, str], message: str) -> None:
    d = tmp_path / "p"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    with pytest.raises(ProgramError, match=message):
        load_program(d)


def test_missing_path_and_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match="no such file"):
        load_program(tmp_path / "absent.go")
    with pytest.raises(ProgramError, match="not a .go file"):
        (tmp_path / "x.txt").write_text("hi")
        load_program(tmp_path / "x.txt")
    d = write_program(tmp_path / "bad", MAIN, toml="language_version = 'one'\n")
    with pytest.raises(ProgramError, match="bad language version"):
        load_program(d)


def test_source_hash_covers_language_version(tmp_path: Path) -> None:
    a = load_program(write_program(tmp_path / "a", MAIN))
    b = load_program(write_program(tmp_path / "b", MAIN, toml='language_version = "1.21"\n'))
    assert a.source_hash != b.source_hash


def test_builtin_programs_cover_every_outcome_class() -> None:
    from schedcast.collect.outcome import OUTCOMES

    declared = {o for p in builtin_programs() for o in p.expected}
    assert declared >= set(OUTCOMES) - {"fail"}
    assert any(p.kind is ProgramKind.TEST for p in builtin_programs())
