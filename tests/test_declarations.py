"""Each practice is declared once, in `keel.rubric.PRACTICES`; this test holds that declaration
to the code it names and describes: the check functions (their names, modules, and the keel.toml
sections they read), the configuration sections that name a practice, and the README's table.
"""

import ast
import importlib
import inspect
import re
from functools import cache
from pathlib import Path

import pytest

from keel.checks.runner import find_check
from keel.config import KeelConfig
from keel.rubric import BY_ID, PRACTICE_IDS, PRACTICES, SECTIONS

README = Path(__file__).resolve().parents[1] / "README.md"
CHECKED = [p for p in PRACTICES if p.check is not None]


def test_the_rubric_has_28_practices_seven_per_section():
    assert len(PRACTICE_IDS) == 28
    for section in SECTIONS:
        assert [p for p in PRACTICE_IDS if BY_ID[p].section == section] == [
            f"{section}.{i}" for i in range(1, 8)
        ]


@pytest.mark.parametrize("practice", CHECKED, ids=lambda p: p.id)
def test_every_declared_check_is_a_function_named_for_its_id_in_its_section_module(practice):
    module, name = practice.check.split(":")
    assert module == f"keel.checks.{practice.section}"
    assert name == practice.id.replace(".", "_")
    check = find_check(practice.id)
    assert inspect.isfunction(check)
    assert (check.__module__, check.__name__) == (module, name)


def test_every_check_function_in_the_section_modules_is_declared():
    declared = {p.check for p in CHECKED}
    for section in ("data", "model", "infra"):
        module = importlib.import_module(f"keel.checks.{section}")
        for name, value in vars(module).items():
            if re.fullmatch(rf"{section}_\d", name) and inspect.isfunction(value):
                assert f"keel.checks.{section}:{name}" in declared


def test_every_practice_has_an_automated_check_that_resolves():
    for p in PRACTICES:
        assert p.check is not None, p.id
        assert callable(find_check(p.id)), p.id


def test_reusable_and_model_free_practices_are_checked_ones():
    for p in PRACTICES:
        if p.reusable or not p.needs_model:
            assert p.check is not None, p.id


@cache
def _module(name: str) -> tuple[dict[str, ast.FunctionDef], dict[str, tuple[str, str]]]:
    """A keel.checks module's functions, and the names it imports from other keel.checks
    modules (at the top or inside a function)."""
    tree = ast.parse(Path(importlib.import_module(name).__file__).read_text(encoding="utf-8"))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    imported = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keel.checks")
        for alias in node.names
    }
    return functions, imported


def _sections_read(module: str, function: str) -> set[str]:
    """The keel.toml sections read (`….config.<section>`) by a function of keel.checks and by
    every function of keel.checks it calls, followed through the calls."""
    sections: set[str] = set()
    seen: set[tuple[str, str]] = set()
    todo = [(module, function)]
    while todo:
        where = todo.pop()
        if where in seen:
            continue
        seen.add(where)
        functions, imported = _module(where[0])
        for node in ast.walk(functions[where[1]]):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                if node.value.attr == "config":
                    sections.add(node.attr)
            elif isinstance(node, ast.Attribute) and node.attr == "registry":
                if isinstance(node.value, ast.Name) and node.value.id == "system":
                    sections.add("registry")  # System.registry: [registry] uri and model
            elif isinstance(node, ast.Name) and node.id in functions:
                todo.append((where[0], node.id))
            elif isinstance(node, ast.Name) and node.id in imported:
                other, name = imported[node.id]
                if name in _module(other)[0]:
                    todo.append((other, name))
    return sections


@pytest.mark.parametrize("practice", CHECKED, ids=lambda p: p.id)
def test_a_practice_declares_exactly_the_keel_toml_sections_its_check_reads(practice):
    assert set(practice.reads) <= set(KeelConfig.model_fields)
    assert len(set(practice.reads)) == len(practice.reads)
    module, name = practice.check.split(":")
    assert set(practice.reads) == _sections_read(module, name)


def test_a_config_section_that_names_a_checked_practice_is_read_by_that_check():
    named = 0
    for section, field in KeelConfig.model_fields.items():
        doc = getattr(field.annotation, "__doc__", None) or ""
        for practice in re.findall(r"\b((?:data|model|infra|monitor)\.\d)\b", doc):
            if BY_ID[practice].check is not None:
                named += 1
                assert section in BY_ID[practice].reads, (section, practice)
    assert named >= 10


def test_the_readme_table_lists_exactly_the_automated_practices():
    text = README.read_text(encoding="utf-8")
    table = text.split("## What is checked in this version", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| ((?:data|model|infra|monitor)\.\d) \|", table, re.MULTILINE)
    assert listed == [p.id for p in CHECKED]
