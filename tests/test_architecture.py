"""The package's shape: imports point one way (no cycles, no module importing a layer above its own), the CLI
is option parsing only, and `audiomlqa --version` / `python -m audiomlqa` work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import audiomlqa

PACKAGE = Path(audiomlqa.__file__).parent

# Lowest first, by top-level folder (or module). A module may import its own layer's modules and any below, never
# one above.
LAYERS = [
    {"errors", "languages"},
    {"utils", "config", "tasks"},
    {"weights", "audio", "sources", "instructions", "download", "manifest", "__init__"},
    {"asr", "tts", "scoring"},
    {"llm", "testing", "synthesis"},
    {"speechllm", "publish"},
    {"evaluation"},
    {"report", "harness"},
    {"cli", "__main__"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every audiomlqa module → the audiomlqa modules it imports (at the top or inside functions)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audiomlqa"):
                targets = [f"{node.module}.{a.name}" for a in node.names]
                deps.update(t if t in modules else node.module for t in targets)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("audiomlqa"))
        graph[name] = {d for d in deps if d != name and d in modules}
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_every_module_sits_in_a_layer_and_imports_none_above_it():
    upward = [
        f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
        for m, deps in import_graph().items()
        for d in deps
        if layer(d) > layer(m)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_cli_only_parses_options():
    """No table, chart or report is built in cli.py: those are library functions (tested as such)."""
    source = (PACKAGE / "cli.py").read_text()
    for built_here in ("Table(", "add_column", "add_row", "pd.DataFrame", "plt.", "write_charts("):
        assert built_here not in source, built_here


def test_version_and_python_dash_m():
    for cmd in (["-m", "audiomlqa", "--version"], ["-m", "audiomlqa.cli", "--version"]):
        out = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == f"audiomlqa {audiomlqa.__version__}", out.stderr
