"""The shape every service keeps (docs/service-shape.md), checked on the source: small ports, short
functions, use-case tests without placeholders, and the wiring written once in `shared`."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("key_validator", "oauth_gateway", "connection_registry", "notifier")
MAX_PORT_METHODS = 12
MAX_FUNCTION_LINES = 60


def _python(folder: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _is_protocol(node: ast.ClassDef) -> bool:
    return any((isinstance(b, ast.Name) and b.id == "Protocol") or
               (isinstance(b, ast.Subscript) and isinstance(b.value, ast.Name) and b.value.id == "Protocol")
               for b in node.bases)


def test_no_port_protocol_has_more_than_twelve_methods() -> None:
    too_big = {}
    for folder in (ROOT / "services", ROOT / "shared" / "src"):
        for path, tree in _python(folder):
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and _is_protocol(node):
                    methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
                    if len(methods) > MAX_PORT_METHODS:
                        too_big[f"{path.relative_to(ROOT)}:{node.name}"] = len(methods)
    assert too_big == {}


def test_no_function_in_services_is_longer_than_sixty_lines() -> None:
    long = {f"{path.relative_to(ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
            for path, tree in _python(ROOT / "services") for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES}
    assert long == {}


def test_the_gateways_use_case_tests_need_no_placeholder_arguments() -> None:
    tree = ast.parse((ROOT / "services/oauth_gateway/tests/test_handlers.py").read_text())
    placeholders = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
                    for arg in node.args if isinstance(arg, ast.Constant) and arg.value is None]
    assert placeholders == []


def _where(is_it) -> list[str]:  # noqa: ANN001 - a predicate on AST nodes
    return sorted({str(path.relative_to(ROOT)) for folder in (ROOT / "services", ROOT / "shared" / "src")
                   for path, tree in _python(folder) if "tests" not in path.parts
                   for node in ast.walk(tree) if is_it(node)})


def _defines(name: str):  # noqa: ANN202
    return lambda node: isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name


def _calls(name: str):  # noqa: ANN202
    return lambda node: isinstance(node, ast.Call) and name in (
        getattr(node.func, "id", None), getattr(node.func, "attr", None))


@pytest.mark.parametrize(("wiring", "is_it", "written_in"), [
    ("unit of work", _defines("unit_of_work"), ["shared/src/shared/delivery/transaction.py"]),
    ("clock", _defines("Clock"), ["shared/src/shared/ports.py"]),
    ("real clock", _defines("utc_now"), ["shared/src/shared/ports.py"]),
    ("background task", _calls("create_task"), ["shared/src/shared/runtime.py"]),
    # the rebuild migrates its own scratch database, which no service process runs
    ("migrations", _calls("apply_migrations"), ["services/connection_registry/src/connection_registry/rebuild.py",
                                                "shared/src/shared/runtime.py"]),
])
def test_wiring_is_written_once_in_shared(wiring: str, is_it, written_in: list[str]) -> None:  # noqa: ANN001
    """Unit of work, clock, background tasks and migrations: each service uses shared's, none spells its own."""
    assert _where(is_it) == written_in, wiring


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_one_composition_root(service: str) -> None:
    package = ROOT / "services" / service / "src" / service
    roots = [str(p.relative_to(package)) for p in package.rglob("*.py") if "def build_app(" in p.read_text()]
    assert roots == ["main.py"]
