"""The house's shape, kept: each folder is one layer, imports only run down the layers, and no
modules import each other in a circle (lazy and type-only imports count: they are promises
about what a module needs)."""

from __future__ import annotations

import ast
import pathlib

from tests.conftest import ROOT

PACKAGE = ROOT / "jogg_flow"
# Top-down. A module may import its own folder and any folder of a lower layer, never a
# sibling of its own layer nor anything above it.
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("app",),
    ("ui",),
    ("engine",),
    ("manifest", "state"),
    ("api", "feeds", "sandbox"),
    ("errors", "net", "__init__", "schemas"),
    ("text",),
]


def _module(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").exists()


def _imports(path: pathlib.Path) -> set[str]:
    """Every jogg_flow module `path` imports, wherever the import stands."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("jogg_flow"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("jogg_flow"):
                continue
            for alias in node.names:  # `from pkg import module` imports the module
                sub = f"{target}.{alias.name}"
                is_module = (ROOT / (sub.replace(".", "/") + ".py")).exists() or _is_package(sub)
                found.add(sub if is_module else target)
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> tuple[int, str]:
    parts = module.split(".")
    folder = parts[1] if len(parts) > 1 else "__init__"
    for depth, names in enumerate(LAYERS):
        if folder in names:
            return depth, folder
    raise AssertionError(f"{module}: its folder '{folder}' is on no layer of tests/test_layers.py")


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up a layer or across to a sibling folder of its layer."""
    upward = []
    for module, targets in graph.items():
        depth, folder = _layer(module)
        for target in targets:
            target_depth, target_folder = _layer(target)
            if target_folder == folder or target_depth > depth or target == "jogg_flow":
                continue
            upward.append(f"{module} -> {target}")
    return sorted(upward)


def test_imports_run_down_the_layers():
    upward = _upward(_graph())
    assert not upward, "imports that do not run down a layer:\n" + "\n".join(upward)


def _circle(graph: dict[str, set[str]]) -> list[str]:
    """One circle of imports, or [] (depth-first search, three colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        colour[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return []


def test_no_modules_import_each_other_in_a_circle():
    graph = _graph()
    # A package's __init__ hands names on; what it imports is the package's own face.
    without_faces = {m: {t for t in ts if not _is_package(t)} for m, ts in graph.items()}
    circle = _circle(without_faces)
    assert not circle, "a circle of imports: " + " -> ".join(circle)


def test_the_checks_see_a_planted_upward_import_and_a_planted_circle():
    """The two checks above would fail on the bugs they name, and the graph holds the
    imports they judge (cli/run.py's of ui.report is read)."""
    graph = _graph()
    assert "jogg_flow.ui.report" in graph["jogg_flow.cli.run"]
    up = {**graph, "jogg_flow.engine.planner": graph["jogg_flow.engine.planner"] | {"jogg_flow.ui.report"}}
    assert _upward(up) == ["jogg_flow.engine.planner -> jogg_flow.ui.report"]
    sideways = {**graph, "jogg_flow.state.edits": graph["jogg_flow.state.edits"] | {"jogg_flow.manifest.model"}}
    assert _upward(sideways) == ["jogg_flow.state.edits -> jogg_flow.manifest.model"]
    circle = {**up, "jogg_flow.ui.report": up["jogg_flow.ui.report"] | {"jogg_flow.engine.planner"}}
    assert _circle(circle)
