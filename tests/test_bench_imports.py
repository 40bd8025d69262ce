"""bench stays a tool built on the product's non-test packages: no bench module imports the tests, and bench's
modules do not import each other in a circle (not even lazily, inside a function)."""

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
MODULES = sorted(f"bench.{p.stem}" for p in BENCH.glob("*.py") if p.stem != "__init__")


def imported_by(module: str) -> set[str]:
    """Every module `module` imports anywhere in its source, relative imports resolved inside bench."""
    tree = ast.parse((BENCH / f"{module.removeprefix('bench.')}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = "bench" + (f".{node.module}" if node.module else "")
            found |= {base} if node.module else {f"bench.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def bench_graph() -> dict[str, set[str]]:
    return {m: {i for i in imported_by(m) if i in MODULES} for m in MODULES}


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            if found := visit(target, [*path, node]):
                return found
        done.add(node)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, []))), None)


def test_the_cycle_finder_finds_a_lazy_circle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_bench_modules_import_each_other_without_a_cycle() -> None:
    graph = bench_graph()
    assert graph["bench.harness"] <= {"bench.baseline"}, "harness is the library every phase builds on"
    assert cycle_in(graph) is None, f"bench import cycle: {' -> '.join(cycle_in(graph))}"


@pytest.mark.parametrize("module", MODULES)
def test_no_bench_module_imports_the_tests(module: str) -> None:
    tests = sorted(i for i in imported_by(module) if i == "tests" or i.startswith("tests."))
    assert not tests, f"{module} imports {tests}: move what it needs to a non-test package (local_infra)"


@pytest.mark.parametrize("module", MODULES)
def test_every_bench_module_imports(module: str) -> None:
    importlib.import_module(module)
