"""What the tree promises: ruff and mypy clean, layers kept, no import loops, small modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_ruff_is_clean() -> None:
    result = run_tool("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


PACKAGES = ("waitroom", "scheduler", "portal")


def module_imports() -> dict[str, set[str]]:
    """Each module of the packages and the package modules it imports at load time."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # load-time imports only
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(target for target in targets if target in modules)
        graph[name] = found - {name}
    return graph


def test_waitroom_and_scheduler_never_import_the_portal() -> None:
    graph = module_imports()
    wrong = sorted(f"{name} -> {target}" for name, targets in graph.items()
                   if not name.startswith("portal") for target in targets
                   if target.startswith("portal"))
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = module_imports()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_modules_stay_small() -> None:
    # Split a module before it reaches ~600 lines (STYLE.md); 550 leaves the margin.
    long = {str(path.relative_to(ROOT)): count for package in PACKAGES
            for path in (ROOT / package).rglob("*.py")
            if (count := len(path.read_text().splitlines())) > 550}
    assert long == {}
