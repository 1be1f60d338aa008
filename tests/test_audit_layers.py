"""The repository audit keeps its layers: facts and checks import no adapter and do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import freigabe

SRC = Path(freigabe.__file__).parent
PURE = [SRC / "audit" / "facts.py", SRC / "audit" / "repo.py", *sorted((SRC / "audit" / "checks").glob("*.py"))]
IO_MODULES = {"subprocess", "shutil", "socket", "httpx", "asyncssh", "yaml", "tree_sitter", "tree_sitter_bash"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_audit_facts_and_checks_import_no_adapter_and_no_io() -> None:
    for path in PURE:
        imported = _imports(path)
        assert not {n for n in imported if n.startswith("freigabe.adapters")}, path
        assert not {n for n in imported if n.split(".")[0] in IO_MODULES}, path
        assert not {n for n in imported if n.startswith("freigabe.usecases")}, path


def test_checks_do_not_open_files() -> None:
    for path in PURE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = {
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert not calls & {"open", "read_text", "write_text", "run", "Popen"}, (path, calls & {"open", "run"})
