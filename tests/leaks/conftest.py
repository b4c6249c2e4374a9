"""Real Go modules and programs for the leak tool's tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schedcast.cli import app


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# A module of two packages: store's tests leak a goroutine that util starts.
SHOP_MODULE = {
    "go.mod": "module example.com/shop\n\ngo 1.21\n",
    "util/util.go": (
        "package util\n\n"
        "// Fetch streams n values from a worker goroutine.\n"
        "func Fetch(n int) <-chan int {\n"
        "\tout := make(chan int)\n"
        "\tgo func() {\n"
        "\t\tfor i := 0; i < n; i++ {\n"
        "\t\t\tout <- i\n"
        "\t\t}\n"
        "\t}()\n"
        "\treturn out\n"
        "}\n"
    ),
    "store/store.go": (
        "package store\n\n"
        'import "example.com/shop/util"\n\n'
        "// First takes the first value and abandons the worker: a leak.\n"
        "func First() int { return <-util.Fetch(3) }\n\n"
        "// All drains the worker.\n"
        "func All() int {\n"
        "\ts := 0\n"
        "\tfor v := range util.Fetch(3) {\n"
        "\t\ts += v\n"
        "\t\tif v == 2 {\n"
        "\t\t\tbreak\n"
        "\t\t}\n"
        "\t}\n"
        "\treturn s\n"
        "}\n"
    ),
    "store/store_test.go": (
        "package store\n\n"
        'import "testing"\n\n'
        "func TestFirst(t *testing.T) {\n"
        "\tif First() != 0 {\n"
        '\t\tt.Fatal("want 0")\n'
        "\t}\n"
        "}\n\n"
        "func TestAll(t *testing.T) {\n"
        "\tif All() != 3 {\n"
        '\t\tt.Fatal("want 3")\n'
        "\t}\n"
        "}\n"
    ),
}


@pytest.fixture()
def shop_module(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "shop", SHOP_MODULE)


def run_leaks(*args: str) -> tuple[int, str, dict[str, object] | None]:
    """`schedcast leaks ARGS` in-process: (exit code, output, parsed JSON when --json)."""
    result = CliRunner().invoke(app, ["leaks", *args])
    text = result.output
    data = json.loads(result.stdout) if "--json" in args and result.exit_code in (0, 1) else None
    return result.exit_code, text, data
