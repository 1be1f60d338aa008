"""The layers hold: dependencies point down, and each layer imports only what it may.

cli → usecases → engine → adapters → core/config, with audit (pure checks on facts) and report
(pure rendering) beside core. Every `import` in a module counts, at any depth of the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "freigabe"

# layer → the freigabe packages and modules it may import (its own always allowed)
ALLOWED: dict[str, set[str]] = {
    "core": {"core", "config", "errors"},
    "config": {"config", "core", "errors"},
    "audit": {"audit", "core", "config", "errors"},
    "report": {"report", "core", "config", "errors"},
    "adapters": {"adapters", "audit", "core", "config", "errors", "failpoints", "interrupts"},
    "engine": {"engine", "adapters", "core", "config", "errors", "failpoints", "interrupts"},
    "usecases": {
        "usecases",
        "engine",
        "adapters",
        "audit",
        "report",
        "core",
        "config",
        "errors",
        "failpoints",
        "interrupts",
    },
    "terminal": {"terminal", "engine", "usecases", "adapters", "core", "config", "errors"},
    "cli": {
        "cli",
        "terminal",
        "demo",
        "usecases",
        "engine",
        "adapters",
        "core",
        "config",
        "errors",
        "interrupts",
        "__version__",
    },
    "demo": {"demo", "terminal", "usecases", "engine", "adapters", "core", "config", "errors", "interrupts"},
    "errors": {"errors"},
    "failpoints": {"failpoints"},
    "interrupts": {"interrupts"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _layer(path: Path) -> str:
    return _layer_of("freigabe." + path.relative_to(SRC).parts[0].removesuffix(".py"))


def _layer_of(module: str) -> str:
    name = module.split(".")[1]
    return "terminal" if name.startswith("terminal_") else name  # terminal_actions, terminal_e2e


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "freigabe":
                found += [(node.lineno, f"freigabe.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.startswith("freigabe.")]


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_its_own_and_lower_layers(path: Path) -> None:
    layer = _layer(path)
    allowed = ALLOWED[layer] | {layer}
    wrong = [f"line {line}: {name}" for line, name in _imports(path) if _layer_of(name) not in allowed]
    assert not wrong, f"{path.relative_to(SRC)} ({layer}) may import only {sorted(allowed)}: {wrong}"


def test_every_layer_is_known() -> None:
    assert {_layer(p) for p in MODULES} <= set(ALLOWED)


def test_the_audit_checks_and_core_do_no_io() -> None:
    """Pure layers: no subprocess, sockets, HTTP or SSH clients."""
    io = ("subprocess", "socket", "httpx", "asyncssh", "shutil")
    for path in MODULES:
        if _layer(path) in ("core", "audit", "report"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not names & set(io), f"{path.relative_to(SRC)} imports {sorted(names & set(io))}"
