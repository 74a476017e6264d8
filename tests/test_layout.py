"""The package's shape: no import cycle inside `keel`, no module over 600 lines, and the
layers that must stay light import only what they may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "keel"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The `keel` modules `name` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in MODULES and c != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle among keel's modules, as the list of modules around it, or None.

    A package's `__init__` importing its own submodules is how a package exposes them, and a
    submodule importing its parent package only reaches that `__init__`: such edges are not
    counted."""

    def edges(name: str) -> set[str]:
        return {
            t for t in GRAPH[name] if not t.startswith(name + ".") and not name.startswith(t + ".")
        }

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in sorted(edges(name)):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def test_no_import_cycle_inside_keel():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_is_under_600_lines(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines (at most {MAX_LINES})"


def test_the_cycle_finder_finds_a_cycle():
    saved = dict(GRAPH)
    try:
        GRAPH["keel.errors"] = GRAPH["keel.errors"] | {"keel.evidence"}
        GRAPH["keel.evidence"] = GRAPH["keel.evidence"] | {"keel.errors"}
        assert _cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "keel.data",
            (
                "keel.config",
                "keel.system",
                "keel.checks",
                "keel.model",
                "keel.registry",
                "keel.cli",
            ),
        ),
        ("keel.model", ("keel.config", "keel.system", "keel.checks", "keel.registry", "keel.cli")),
        ("keel.registry", ("keel.system", "keel.config", "keel.checks", "keel.cli")),
        ("keel.serve", ("keel.system", "keel.config", "keel.checks", "keel.cli", "keel.monitor")),
        ("keel.monitor", ("keel.system", "keel.config", "keel.checks", "keel.cli")),
        (
            "keel.log",
            (
                "keel.serve",
                "keel.monitor",
                "keel.model",
                "keel.registry",
                "keel.system",
                "keel.config",
                "keel.checks",
                "keel.cli",
            ),
        ),
    ],
)
def test_a_layer_imports_nothing_above_it(layer, forbidden):
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name == layer or name.startswith(layer + ".")
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    )
    assert not wrong, "; ".join(wrong)


def test_the_prediction_log_is_read_and_written_only_through_its_package():
    """Serving writes through `keel.log.writer`, everything else reads through `keel.log`'s
    readers: no module outside the package handles segment frames or roll-up internals."""
    internal = ("keel.log.segments", "keel.log._columnar", "keel.log.quarantine")
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if not (name == "keel.log" or name.startswith("keel.log."))
        for target in targets
        if target in internal
    )
    assert not wrong, "; ".join(wrong)


def test_the_log_package_exists_below_serving_and_monitoring():
    assert "keel.log.writer" in GRAPH["keel.serve.app"]
    assert any(t.startswith("keel.log") for t in GRAPH["keel.monitor.intake"])


def test_no_module_keeps_run_state_in_a_systems_dict():
    """What the checks of a run share goes through `System.read_once`, not attributes hidden in
    `System.__dict__`."""
    wrong = [
        name
        for name, path in MODULES.items()
        if name.startswith("keel.checks") and "system.__dict__" in path.read_text(encoding="utf-8")
    ]
    assert not wrong, ", ".join(wrong)


def test_no_module_imports_a_private_name_from_another_package():
    """Shared code is public where it lives (the online-quality maths the canary and monitoring
    share are `keel.model.online_quality`), not borrowed as another package's private name."""
    wrong = []
    for name, path in MODULES.items():
        package = name.split(".")[1] if name.count(".") else name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                source = node.module.split(".")
                if len(source) < 2 or source[0] != "keel" or source[1] == package:
                    continue
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and not source[-1].startswith("_"):
                    wrong.append(f"{name} imports {', '.join(private)} from {node.module}")
    assert not wrong, "; ".join(sorted(wrong))


JUDGEMENTS = {  # monitor.N: the module of keel.monitor that holds its whole judgement
    1: "keel.monitor.dependencies",
    2: "keel.monitor.anomalies",
    3: "keel.monitor.skew",
    4: "keel.monitor.staleness",
    5: "keel.monitor.stability",
    6: "keel.monitor.regressions",
    7: "keel.monitor.quality_verdict",
}
THIN = 25  # lines an adapter of checks/monitor.py may take, docstring included


@pytest.mark.parametrize("number", sorted(JUDGEMENTS))
def test_a_monitor_check_is_a_thin_adapter_of_its_judgement_in_the_monitor_layer(number):
    """`checks/monitor.py` gathers inputs and returns the verdict of the judgement that
    `keel.monitor.<module>` holds; a reader who wants to change monitor.N finds it there."""
    tree = ast.parse(MODULES["keel.checks.monitor"].read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    (check,) = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == f"monitor_{number}"
    ]
    lines = check.end_lineno - check.lineno + 1
    assert lines <= THIN, (
        f"monitor_{number} takes {lines} lines (at most {THIN}): judge in keel.monitor"
    )
    called = {
        n.func.id
        for n in ast.walk(check)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    module = JUDGEMENTS[number]
    assert any(imported.get(name) == module for name in called), (
        f"monitor_{number} calls no judgement imported from {module}"
    )
    docstring = ast.get_docstring(ast.parse(MODULES[module].read_text(encoding="utf-8"))) or ""
    assert docstring.startswith(f"monitor.{number}:"), (
        f"{module}'s docstring names monitor.{number}"
    )
