"""The places that declare a practice agree: the rubric, the check registry, the runner's list
of reusable evidence, the check functions' names and modules, and the README's table.

(Until each practice has one declaration, this test keeps the copies from drifting apart.)
"""

import re
from pathlib import Path

from keel.checks import CHECKS
from keel.checks.runner import NO_MODEL, REUSABLE
from keel.rubric import BY_ID, PRACTICE_IDS, SECTIONS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_rubric_has_28_practices_seven_per_section():
    assert len(PRACTICE_IDS) == 28
    for section in SECTIONS:
        assert [p for p in PRACTICE_IDS if BY_ID[p].section == section] == [
            f"{section}.{i}" for i in range(1, 8)
        ]


def test_every_check_is_registered_under_a_rubric_id_with_its_own_name_and_module():
    for practice, check in CHECKS.items():
        assert practice in BY_ID
        assert check.__name__ == practice.replace(".", "_")
        assert check.__module__ == f"keel.checks.{BY_ID[practice].section}"


def test_reusable_and_model_free_practices_are_checked_ones():
    assert set(CHECKS) >= REUSABLE
    assert set(CHECKS) >= NO_MODEL


def test_the_readme_table_lists_exactly_the_automated_practices():
    text = README.read_text(encoding="utf-8")
    table = text.split("## What is checked in this version", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| ((?:data|model|infra|monitor)\.\d) \|", table, re.MULTILINE)
    assert listed == [p for p in PRACTICE_IDS if p in CHECKS]
