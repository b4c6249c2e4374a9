"""GoKer kernels read from the installed Go toolchain."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from schedcast.collect import RunConfig, collect
from schedcast.corpus.goker import goker_dir, parse_readme, parse_runtime_test, split_name, toolchain_goker_programs
from schedcast.dataset.measure import measure_collection
from schedcast.corpus.program import ProgramError, ProgramKind

KERNELS = toolchain_goker_programs()
# Stable in the runtime's own test and quick (no long sleeps): a cheap real check.
QUICK_KERNELS = ("Etcd5509", "Moby7559")


def test_every_registered_kernel_is_a_program() -> None:
    registered = sum(
        text.count('register("') for p in sorted(goker_dir().glob("*.go")) if p.name != "main.go"
        for text in [p.read_text()]
    )
    assert len(KERNELS) == registered >= 60
    assert len({p.id for p in KERNELS}) == len(KERNELS)
    assert len({p.source_hash for p in KERNELS}) == len(KERNELS)  # one run-store key each


def test_kernel_metadata() -> None:
    projects = Counter(p.extra["project"] for p in KERNELS)
    assert {"cockroach", "etcd", "grpc", "kubernetes", "moby", "istio", "hugo", "serving", "syncthing"} <= set(projects)
    for p in KERNELS:
        assert p.kind is ProgramKind.MAIN and p.origin == "goker"
        assert p.args == (p.extra["kernel"],)
        assert p.extra["bug_id"].isdigit()
        assert set(p.sources) == {"main.go", Path(p.extra["source"]).name}
        assert p.expected == ("leak", "deadlock", "blocked")
    assert sum(1 for p in KERNELS if p.extra["type"]) == len(KERNELS)
    statuses = Counter(p.extra["go_test"] for p in KERNELS)
    assert statuses["stable"] >= 15 and statuses["flaky"] >= 15


def test_name_and_readme_parsing() -> None:
    assert split_name("Cockroach1055") == ("cockroach", "1055")
    readme = (
        "# GoKer\n\n## Etcd/5509\n\n| Bug ID | Ref | Patch | Type | Sub-type |\n| -- | -- | -- | -- | -- |\n"
        "|[etcd#5509]|[pull request]|[patch]| Resource | Double locking |\n\n### Description\n\n"
        "r.acquire() returns holding\nthe lock.\n\n## Moby/7559\n\nno table here\n"
    )
    info = parse_readme(readme)
    assert info["etcd5509"].type == "Resource" and info["etcd5509"].subtype == "Double locking"
    assert info["etcd5509"].description == "r.acquire() returns holding the lock."
    assert info["moby7559"].type == ""
    listed = parse_runtime_test('makeTest("A",\n\tmakeFlakyTest("B",\n// makeTest(testCase{name: "C"},\n')
    assert listed == {"A": "stable", "B": "flaky", "C": "excluded"}


def test_missing_goker_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match="no GoKer kernels"):
        toolchain_goker_programs(tmp_path)


def test_quick_kernels_build_run_and_manifest(tmp_path: Path) -> None:
    programs = [p for p in KERNELS if p.extra["kernel"] in QUICK_KERNELS]
    assert len(programs) == len(QUICK_KERNELS)
    collect(programs, tmp_path, RunConfig(runs=3), show_progress=False)
    measured = measure_collection(tmp_path, traces=False)
    for p in programs:
        m = measured[p.id]
        assert m.runs == 3 and "build_error" not in m.outcomes
        assert m.manifestation_rate is not None and m.manifestation_rate > 0, m.outcomes
