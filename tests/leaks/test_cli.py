"""`schedcast leaks` end to end: real builds, real traced runs, real traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcast.leaks import EXIT_BAD_INPUT, EXIT_BUILD, EXIT_CLEAN, EXIT_LEAK

from .conftest import run_leaks, write_tree


def test_handcrafted_leak_exits_1_and_names_the_source_lines() -> None:
    code, text, data = run_leaks("select_two_case_leak", "-n", "3", "--json")
    assert code == EXIT_LEAK, text
    assert data is not None and data["runs"] == 3
    [leak] = data["leaks"]
    assert leak["blocked_at"] == "main.go:11" and leak["blocked_line"] == "select {"
    assert leak["created_at"] == "main.go:25" and leak["created_line"] == "go eventLoop(messages, stop, handled)"
    assert leak["wait"] == "select" and leak["runs"] == 3
    assert leak["select_cases"] == 2 and leak["select_default"] is False  # from the source facts
    assert leak["profile_runs"] == 3  # Go's goroutineleak profile proved it in every run
    assert leak["goleak"] is True
    # The loop was unblocked five times before its last block: not the paper's signature.
    assert leak["signature"] is False


def test_its_clean_twin_exits_0() -> None:
    code, text, data = run_leaks("select_two_case_ok", "-n", "3", "--json")
    assert code == EXIT_CLEAN, text
    assert data is not None and data["leaks"] == [] and data["outcomes"] == {"ok": 3}


def test_human_output_names_the_leak() -> None:
    code, text, _ = run_leaks("select_two_case_leak", "-n", "2")
    assert code == EXIT_LEAK
    assert "main.go:11" in text and "main.go:25" in text and "leak found" in text


def test_goker_kernel() -> None:
    code, text, data = run_leaks("Cockroach584", "-n", "2", "--json")
    assert code == EXIT_LEAK, text
    assert data is not None and data["program"] == "goker_cockroach584"
    leak = data["leaks"][0]
    assert leak["blocked_at"] == "cockroach584.go:36" and leak["wait"] == "sync.Mutex.Lock"
    assert leak["blocked_line"] == "g.mu.Lock()"
    assert leak["profile_runs"] == leak["runs"] == 2


def test_package_of_a_multi_package_module(shop_module: Path) -> None:
    code, text, data = run_leaks(str(shop_module / "store"), "-run", "TestFirst", "-n", "3", "--json")
    assert code == EXIT_LEAK, text
    assert data is not None and data["program"] == "example.com/shop/store" and data["kind"] == "test"
    [leak] = data["leaks"]
    # Sites are the module's own paths: the goroutine lives in another package.
    assert leak["blocked_at"] == "util/util.go:8" and leak["blocked_line"] == "out <- i"
    assert leak["created_at"] == "util/util.go:6" and leak["wait"] == "chan send"
    # The test returned first: the worker blocks only after the program's end marker.
    assert leak["profile_runs"] == 3


def test_module_tests_that_do_not_leak(shop_module: Path) -> None:
    code, text, data = run_leaks(str(shop_module / "store"), "--run", "TestAll", "-n", "2", "--json")
    # All() breaks out of the loop after the last value: the worker's loop ends. Clean.
    assert code == EXIT_CLEAN, text
    assert data is not None and data["leaks"] == []


def test_vendored_module_builds_offline(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "app", {
        "go.mod": "module example.com/app\n\ngo 1.22\n\nrequire example.org/dep v0.1.0\n",
        "vendor/modules.txt": "# example.org/dep v0.1.0\n## explicit\nexample.org/dep\n",
        "vendor/example.org/dep/dep.go": "package dep\n\n// Wait blocks until ch is closed.\nfunc Wait(ch chan struct{}) { <-ch }\n",
        "app.go": "package app\n\nimport \"example.org/dep\"\n\nfunc Start() { go dep.Wait(make(chan struct{})) }\n",
        "app_test.go": "package app\n\nimport \"testing\"\n\nfunc TestStart(t *testing.T) { Start() }\n",
    })
    code, text, data = run_leaks(str(root), "-n", "2", "--json")
    assert code == EXIT_LEAK, text
    assert data is not None
    [leak] = data["leaks"]
    assert leak["blocked_at"] == "example.org/dep/dep.go:4" or leak["blocked_at"].endswith("dep.go:4")
    assert leak["created_at"] == "app.go:5" and leak["wait"] == "chan receive"


def test_leak_that_blocks_after_the_test_returned(tmp_path: Path) -> None:
    """The test returns before its goroutine runs: the block is outside the program
    window, and the leak view still sees it."""
    root = write_tree(tmp_path / "late", {
        "late_test.go": (
            "package late\n\nimport (\n\t\"testing\"\n\t\"time\"\n)\n\n"
            "func TestLate(t *testing.T) {\n"
            "\tch := make(chan int)\n"
            "\tgo func() {\n"
            "\t\tstart, s := time.Now(), 0\n"
            "\t\tfor time.Since(start) < 30*time.Millisecond {\n"
            "\t\t\ts++\n"
            "\t\t}\n"
            "\t\tch <- s\n"
            "\t}()\n"
            "}\n"
        ),
    })
    code, text, data = run_leaks(str(root), "-n", "3", "--json")
    assert code == EXIT_LEAK, text
    assert data is not None
    [leak] = data["leaks"]
    assert leak["blocked_at"] == "late_test.go:15" and leak["wait"] == "chan send"
    # The goroutine computes for 30 ms before it blocks; the test has returned long
    # before (unless the machine stalls the test goroutine for that long: >= 2 of 3).
    assert leak["after_program_end"] >= 2


def _one_error_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


def test_bad_input_missing_module(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "needs", {
        "go.mod": "module example.com/needs\n\ngo 1.22\n\nrequire github.com/acme/missing v1.2.3\n",
        "needs.go": 'package needs\n\nimport "github.com/acme/missing"\n\nfunc F() { missing.Do() }\n',
        "needs_test.go": 'package needs\n\nimport "testing"\n\nfunc TestF(t *testing.T) { F() }\n',
    })
    code, text, _ = run_leaks(str(root))
    assert code == EXIT_BAD_INPUT
    line = _one_error_line(text)
    assert "github.com/acme/missing" in line and "not present locally" in line


def test_bad_input_directory_without_go_files(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "empty", {"go.mod": "module example.com/empty\n\ngo 1.22\n", "docs/readme.txt": "hi\n"})
    for target in (root, root / "docs"):
        code, text, _ = run_leaks(str(target))
        assert code == EXIT_BAD_INPUT
        assert "no .go files" in _one_error_line(text)
    plain = tmp_path / "plain"
    plain.mkdir()
    code, text, _ = run_leaks(str(plain))
    assert code == EXIT_BAD_INPUT and "no .go files" in _one_error_line(text)


def test_bad_input_tests_that_do_not_compile(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "broken", {
        "go.mod": "module example.com/broken\n\ngo 1.22\n",
        "b.go": "package broken\n\nfunc F() int { return 1 }\n",
        "b_test.go": 'package broken\n\nimport "testing"\n\nfunc TestF(t *testing.T) { var x int = "s"; _ = x }\n',
    })
    code, text, _ = run_leaks(str(root), "-n", "1")
    assert code == EXIT_BUILD
    line = _one_error_line(text)
    assert "does not compile" in line and "b_test.go:5" in line


def test_bad_input_test_name_that_matches_nothing(shop_module: Path) -> None:
    code, text, _ = run_leaks(str(shop_module / "store"), "-run", "TestNope", "-n", "1")
    assert code == EXIT_BAD_INPUT
    assert "no test matches -run 'TestNope'" in _one_error_line(text)


@pytest.mark.parametrize("args", [["no_such_program_anywhere"], ["select_two_case_leak", "-run", "TestX"], ["select_two_case_ok", "-n", "0"]])
def test_bad_input_other(args: list[str]) -> None:
    code, text, _ = run_leaks(*args)
    assert code == EXIT_BAD_INPUT
    _one_error_line(text)
