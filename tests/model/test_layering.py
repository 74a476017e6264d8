"""keel.model works on plain data: no module of it reads a System, keel.toml or the registry."""

import ast
from pathlib import Path

import keel.model

# What model code must not import, at module level or inside a function: the System and its
# configuration, the checks, the registry, the command line, and the adapters from a System.
FORBIDDEN = (
    "keel.system",
    "keel.config",
    "keel.checks",
    "keel.registry",
    "keel.cli",
    "keel.lineage",
    "keel.history",
    "keel.integration",
    "keel.training",
    "keel.explain",
)


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) of every import in a source file, relative imports resolved; for
    `from keel import system` both `keel` and `keel.system`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith((name + ".", name + "_")) for name in FORBIDDEN)


def test_no_model_module_imports_the_system_config_checks_registry_or_cli():
    root = Path(keel.model.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    offending = []
    for path in files:
        rel = path.relative_to(root.parent.parent)
        package = ".".join(rel.with_suffix("").parts[:-1])
        for line, module in imported_modules(path, package):
            if forbidden(module):
                offending.append(f"{rel}:{line} imports {module}")
    assert offending == []


def test_the_scan_sees_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        "def f():\n"
        "    from keel.system import System\n"
        "    from keel import config\n"
        "    from ..checks import runner\n"
        "    import keel.cli_explain\n"
    )
    found = [m for _, m in imported_modules(source, "keel.model") if forbidden(m)]
    assert found == [
        "keel.system",
        "keel.system.System",
        "keel.config",
        "keel.checks",
        "keel.checks.runner",
        "keel.cli_explain",
    ]
