"""Import rules of the layout (ARCHITECTURE.md), read from the source with `ast`:

- `matching` is pure: nothing from `service`, `seed`, FastAPI, asyncpg or settings;
- nothing under `service/` imports `seed`, except the CLI's demo command;
- endpoints run no SQL: they import no repository of another capability, and never touch a
  connection themselves;
- no import cycles between modules at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) of every import; `top_level_only` skips those inside functions
    and `if TYPE_CHECKING:` blocks, which do not run when the module is imported."""
    tree = ast.parse(path.read_text())
    nodes: list[ast.AST]
    if top_level_only:
        nodes = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    else:
        nodes = list(ast.walk(tree))
    found: list[tuple[str, int]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            # `from service.x import repository` imports the module service.x.repository
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_matching_is_pure() -> None:
    forbidden = ("service", "seed", "fastapi", "asyncpg", "starlette", "pydantic_settings")
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {mod}"
        for p in _sources("matching")
        for mod, line in _imports(p)
        if mod.split(".")[0] in forbidden
    ]
    assert not bad, bad


def test_service_does_not_import_seed_except_the_demo_command() -> None:
    bad = []
    for p in _sources("service"):
        for mod, line in _imports(p):
            if mod.split(".")[0] == "seed":
                tree = ast.parse(p.read_text())
                inside = [
                    f.name
                    for f in ast.walk(tree)
                    if isinstance(f, ast.FunctionDef) and f.lineno <= line <= (f.end_lineno or 0)
                ]
                if p.name != "cli.py" or inside != ["cmd_demo"]:
                    bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, bad


def test_endpoints_run_no_sql() -> None:
    bad = []
    for p in _sources("service"):
        if p.name != "endpoints.py":
            continue
        capability = _module_name(p).split(".")[1]
        for mod, line in _imports(p):
            parts = mod.split(".")
            is_repository = parts[-1].endswith("repository")
            if is_repository and parts[1] != capability:
                bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}")
        text = p.read_text()
        for call in ("conn.fetch", "conn.execute", ".acquire()"):
            if call in text:
                bad.append(f"{p.relative_to(ROOT)} uses {call}")
    assert not bad, bad


def test_no_import_cycles_at_import_time() -> None:
    modules = {_module_name(p): p for d in ("service", "matching", "seed") for p in _sources(d)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m, _ in _imports(path, top_level_only=True) if m in modules} - {name}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # a package's __init__ importing its own submodules is not a cycle that can bite
    cycles = [c for c in cycles if not all(m.startswith(c[0] + ".") for m in c[1:-1])]
    assert not cycles, cycles


def test_no_test_module_imports_another() -> None:
    """Shared builders live in tests/factories.py; a test module imported by another would run
    its tests twice and tie unrelated suites together."""
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {mod}"
        for p in _sources("tests")
        for mod, line in _imports(p)
        if mod.startswith("tests.")
        and (mod.split(".")[-1].startswith("test_") or "conftest" in mod)
    ]
    assert not bad, bad
