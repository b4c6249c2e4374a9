"""No module of a lower stage imports a higher one, at the top or inside a function.

Order (docs/architecture.md): toolchain, terminal (shared bottom) < corpus < collect <
trace < dataset < models < evaluate | probe | leaks < report < pipeline; the command-line
modules (cli.py, *_cli.py, schedcast.cli, __main__) are the top and may import anything,
but nothing below imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import schedcast

ROOT = Path(schedcast.__file__).parent
RANK = {
    "toolchain": 0, "terminal": 0,
    "corpus": 1, "collect": 2, "trace": 3, "dataset": 4, "models": 5,
    "evaluate": 6, "probe": 6, "leaks": 6,
    "report": 7, "pipeline": 8,
}
TOP = 99


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_cli(module: str) -> bool:
    last = module.split(".")[-1]
    return module in ("schedcast.cli", "schedcast.__main__") or last == "cli" or last.endswith("_cli")


def rank(module: str) -> tuple[str, int] | None:
    """(stage, rank) of a schedcast module; None for modules outside schedcast."""
    parts = module.split(".")
    if parts[0] != "schedcast":
        return None
    if is_cli(module):
        return "cli", TOP
    if len(parts) == 1:
        return "schedcast", 0  # the package itself holds only the version
    if parts[1] not in RANK:
        raise AssertionError(f"{module}: stage {parts[1]!r} has no place in the layering (add it to RANK and docs/architecture.md)")
    return parts[1], RANK[parts[1]]


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """Every import in the file (top level, function-local, TYPE_CHECKING) as (line, module)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from schedcast.x import cli` imports a module, not a name.
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names if is_cli(f"{target}.{a.name}")]
    return found


def upward_imports(root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = rank(module)
        assert own is not None
        stage, level = own
        for line, target in imported_modules(path, module):
            other = rank(target)
            if other is None or other[0] == stage:
                continue
            if other[1] > level or (other[1] == level and level > 0):
                problems.append(f"{path.relative_to(root.parent)}:{line}: {module} ({stage}) imports {target} ({other[0]})")
    return problems


def test_no_lower_stage_imports_a_higher_one() -> None:
    problems = upward_imports()
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_the_walk_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    # A fake tree with one hidden upward import in a function and one relative import.
    pkg = tmp_path / "schedcast"
    (pkg / "corpus").mkdir(parents=True)
    (pkg / "dataset").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "corpus" / "__init__.py").write_text("")
    (pkg / "dataset" / "__init__.py").write_text("")
    (pkg / "corpus" / "hidden.py").write_text("def f():\n    from schedcast.dataset import build\n    return build\n")
    (pkg / "corpus" / "rel.py").write_text("from ..dataset import build\n")
    (pkg / "corpus" / "cli.py").write_text("from schedcast.dataset import build\n")  # the top may import anything
    (pkg / "dataset" / "ok.py").write_text("from schedcast.corpus import hidden\nfrom schedcast.corpus import cli\n")
    problems = upward_imports(pkg)
    assert problems == [
        "schedcast/corpus/hidden.py:2: schedcast.corpus.hidden (corpus) imports schedcast.dataset (dataset)",
        "schedcast/corpus/rel.py:1: schedcast.corpus.rel (corpus) imports schedcast.dataset (dataset)",
        "schedcast/dataset/ok.py:2: schedcast.dataset.ok (dataset) imports schedcast.corpus.cli (cli)",
    ]
