"""keel.data depends on nothing above it, and its modules import one another without a cycle.

The data layer is what a Spark job or a serving process loads on its own: it may import
`keel.errors` and `keel.atomic`, never the configuration, the system, the checks, the model
code, the registry or the command line, not even inside a function.
"""

import ast
from pathlib import Path

import keel

SRC = Path(keel.__file__).parent
FORBIDDEN = ("keel.config", "keel.system", "keel.checks", "keel.model", "keel.registry", "keel.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def keel_imports(path: Path) -> set[str]:
    """Every keel module a file imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "keel"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "keel":
            found.add(node.module)
            # `from keel.data import pii` imports the module keel.data.pii
            found |= {
                f"{node.module}.{a.name}"
                for a in node.names
                if (SRC.parent / node.module.replace(".", "/") / f"{a.name}.py").is_file()
            }
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): keel_imports(p) for p in SRC.rglob("*.py")}


def reached_from(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_data_module_reaches_the_config_system_checks_model_registry_or_cli():
    edges = graph()
    data = [m for m in edges if m == "keel.data" or m.startswith("keel.data.")]
    assert "keel.data.profile" in data and "keel.data.sources" in data
    for module in data:
        bad = sorted(m for m in reached_from(module, edges) if m.startswith(FORBIDDEN))
        assert not bad, f"{module} imports {', '.join(bad)}"


def test_the_data_modules_import_one_another_without_a_cycle():
    edges = graph()
    for module in edges:
        if module.startswith("keel.data."):
            assert module not in reached_from(module, edges), f"{module} imports itself back"
