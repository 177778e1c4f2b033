"""The architecture stays as DESIGN draws it: no import cycles (lazy imports included), and
task dispatch only in the task registry. The layer direction is import-linter's contract
in pyproject.toml, checked by `make test`."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vislab"


def _cycle(graph) -> list[str] | None:
    """One import cycle among vislab's modules, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(imported) == 1:
                return (
                    [*path[path.index(imported) :], imported]
                    if imported in path
                    else [module, imported]
                )
            if imported not in state:
                found = visit(imported, [*path, imported])
                if found:
                    return found
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("vislab", include_external_packages=False)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_search_finds_a_cycle_when_there_is_one():
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c"):
        graph.add_module(name)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    assert _cycle(graph) is None
    graph.add_import(importer="c", imported="a")
    assert _cycle(graph) == ["a", "b", "c", "a"]


def test_only_the_registry_dispatches_on_a_task_name():
    pattern = re.compile(r"""\btask\s*(==|!=)|\.task\s+(not\s+)?in\s*[(\[{]""")
    found = [
        f"{path.relative_to(SOURCE)}:{number}"
        for path in SOURCE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []


def _vislab_imports(path: Path):
    """(line, module, name) of every `from vislab... import name` and `import vislab...` in a
    file, the ones inside functions included."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vislab"):
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("vislab"):
                    yield node.lineno, alias.name, None


def test_every_lazy_import_of_vislab_resolves():
    """Commands import their modules inside functions; a moved module must not leave one of
    those imports dangling until a user runs the command (or a benchmark)."""
    import importlib

    broken = []
    benchmarks = sorted((SOURCE.parents[1] / "bench").glob("*.py"))  # run by hand, not by tests
    for path in [*sorted(SOURCE.rglob("*.py")), *benchmarks]:
        for line, module, name in _vislab_imports(path):
            try:
                imported = importlib.import_module(module)
                if name and name != "*" and not hasattr(imported, name):
                    importlib.import_module(f"{module}.{name}")
            except ImportError as error:
                broken.append(f"{path.relative_to(SOURCE.parents[1])}:{line}: {error}")
    assert not broken, "\n".join(dict.fromkeys(broken))
