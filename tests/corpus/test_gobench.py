"""Importing a GoBench checkout: a small tree in GoBench's layout, written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedcast.collect import RunConfig, collect
from schedcast.corpus.catalog import load_program_tree
from schedcast.collect.build import compile_error
from schedcast.corpus.gobench import import_gobench
from schedcast.dataset.measure import measure_collection
from schedcast.corpus.program import ProgramError, ProgramKind

LEAKING_TEST = '''package etcd7443

import "testing"

func watch(events chan<- int) {
	events <- 1 // nobody receives after the test returns
}

func TestEtcd7443(t *testing.T) {
	events := make(chan int)
	go watch(events)
	t.Log("returning without reading events")
}
'''

# Under go 1.21 semantics the closures share one loop variable: a data race.
# Under go 1.22+ each iteration has its own variable and the race disappears.
LOOPVAR_RACE_TEST = '''package kubernetes3

import (
	"sync"
	"testing"
)

func TestKubernetes3(t *testing.T) {
	var wg sync.WaitGroup
	sum := make([]int, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum[i%3]++
		}()
	}
	wg.Wait()
}
'''

BROKEN_TEST = '''package grpc2

import "testing"

func TestGrpc2(t *testing.T) {
	var x int = "not an int"
	_ = x
}
'''

UNLISTED_TEST = '''package moby1

import "testing"

func TestMoby1(t *testing.T) {}
'''


def write_tree(root: Path) -> Path:
    goker = root / "gobench" / "goker"
    files = {
        goker / "blocking/etcd/7443/etcd7443_test.go": LEAKING_TEST,
        goker / "blocking/etcd/7443/README.md": "# etcd#7443\n\nA watcher blocks sending an event nobody reads.\n",
        goker / "blocking/grpc/2/grpc2_test.go": BROKEN_TEST,
        goker / "blocking/moby/1/moby1_test.go": UNLISTED_TEST,
        goker / "nonblocking/kubernetes/3/kubernetes3_test.go": LOOPVAR_RACE_TEST,
        goker / "nonblocking/hugo/4/README.md": "no kernel here\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    conf = root / "gobench" / "configures" / "goker"
    conf.mkdir(parents=True)
    (conf / "blocking.json").write_text(json.dumps({
        "etcd_7443": {"type": "Communication", "subtype": "Channel"},
        "grpc_2": {"type": "Resource", "subtype": "Double locking"},
    }))
    (conf / "nonblocking.json").write_text(json.dumps({
        "kubernetes_3": {"type": "Traditional", "subtype": "Data race"},
        "hugo_4": {"type": "Go-Specific", "subtype": "Anonymous function"},
    }))
    return root


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = write_tree(tmp_path_factory.mktemp("gobench-checkout"))
    out = tmp_path_factory.mktemp("gobench-programs")
    return import_gobench(root, out, check_build=compile_error), out


def test_imports_good_kernels_with_metadata(imported) -> None:  # type: ignore[no-untyped-def]
    result, out = imported
    by_id = {p.id: p for p in result.programs}
    assert sorted(by_id) == ["gobench_etcd_7443", "gobench_kubernetes_3"]
    etcd = by_id["gobench_etcd_7443"]
    assert etcd.kind is ProgramKind.TEST and etcd.language_version == "1.21"
    assert etcd.extra["category"] == "blocking" and etcd.extra["type"] == "Communication"
    assert etcd.extra["project"] == "etcd" and etcd.extra["bug_id"] == "7443"
    assert etcd.description == "A watcher blocks sending an event nobody reads."
    assert "leak" in etcd.expected
    kube = by_id["gobench_kubernetes_3"]
    assert kube.extra["category"] == "nonblocking" and kube.pattern == "data_race" and "race" in kube.expected
    # What was written reads back as the same programs.
    assert load_program_tree(out) == result.programs


def test_bad_kernels_are_named_skipped_and_counted(imported) -> None:  # type: ignore[no-untyped-def]
    result, _ = imported
    assert any("no metadata entry 'moby_1'" in s.reason for s in result.skipped)
    assert any("does not compile" in s.reason and "grpc" in s.where for s in result.skipped)
    assert any("no *_test.go" in s.reason and s.where.endswith("hugo/4") for s in result.skipped)
    assert len(result.skipped) == 3
    assert result.summary() == "2 kernels imported (1 blocking, 1 nonblocking), 3 skipped"


def test_wrong_layout_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "somewhere").mkdir()
    with pytest.raises(ProgramError, match="not a GoBench checkout"):
        import_gobench(tmp_path / "somewhere")
    with pytest.raises(ProgramError, match="no such directory"):
        import_gobench(tmp_path / "missing")


def test_missing_metadata_file_is_counted(tmp_path: Path) -> None:
    root = write_tree(tmp_path)
    (root / "gobench/configures/goker/nonblocking.json").unlink()
    result = import_gobench(root)
    assert [p.id for p in result.programs] == ["gobench_etcd_7443", "gobench_grpc_2"]
    assert any("metadata file missing" in s.reason for s in result.skipped)


def test_imported_kernels_manifest_their_bugs(imported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result, _ = imported
    collect(result.programs, tmp_path, RunConfig(runs=3), show_progress=False)
    measured = measure_collection(tmp_path, traces=False)
    assert measured["gobench_etcd_7443"].outcomes.get("leak", 0) >= 1
    # The race exists only under go 1.21 loop semantics: proof the import sets them.
    assert measured["gobench_kubernetes_3"].outcomes.get("race", 0) >= 1
