"""The house rules a newcomer relies on: floors that import only downwards, no import
circles but the sources' plugin registration, no module past ~500 lines, SQL only in store/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "paperfeed"

#: Each top-level module or package of paperfeed and its floor: a module may import its own
#: floor and the ones below it, never one above.
FLOORS = {
    "errors": 0,
    "models": 0,
    "config": 0,
    "normalize": 0,
    "signing": 0,
    "store": 1,
    "embed": 2,
    "ingest": 2,
    "export": 2,
    "search": 3,
    "recommend": 4,
    "match": 5,
    "digest": 6,
    "evaluate": 6,
    "profiles": 7,
    "sync": 7,
    "web": 8,
    "cli": 9,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """What each module imports of paperfeed, at any depth (function-level imports count)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("paperfeed"):
                wanted = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                wanted = [a.name for a in node.names]
            else:
                continue
            graph[name].update(w for w in wanted if w in modules and w != name)
    return graph


def _floor(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return {"": 0, "__main__": 9}.get(top, FLOORS.get(top, -1))


def test_every_module_has_a_floor_and_imports_only_downwards() -> None:
    modules = _modules()
    assert all(_floor(m) >= 0 for m in modules), [m for m in modules if _floor(m) < 0]
    upward = [
        (m, t) for m, targets in _imports(modules).items() for t in targets if _floor(t) > _floor(m)
    ]
    assert not upward


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while True:
                w = stack.pop()
                part.add(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(part)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles_but_the_sources_registration() -> None:
    cycles = _cycles(_imports(_modules()))
    registration = {"paperfeed.ingest.registry", "paperfeed.ingest.sources"}
    others = [c for c in cycles if not registration <= c]
    assert not others
    # the registration circle holds the registry and the built-in sources, nothing else
    assert all(
        m.startswith(("paperfeed.ingest.registry", "paperfeed.ingest.sources"))
        for c in cycles
        for m in c
    )


def test_a_circle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_readable(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 550


def test_sql_is_written_in_store_alone() -> None:
    sql = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")
    outside = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "store" not in p.relative_to(SRC).parts and sql.search(p.read_text())
    ]
    assert not outside
