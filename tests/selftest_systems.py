"""Small systems and faults for the selftest tests (module level, so spawned processes import
them)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from systems import binary_frame, write_system

from keel.selftest.fault import Copy, Fault

FEATURES = """
def build(raw):
    out = raw.drop(columns=["y", "who"], errors="ignore")
    return out
"""


def policy_system(folder: Path, *, deny: list[str] | None = None) -> Path:
    """A small binary system with feature code and a feature policy; returns keel.toml."""
    train, evaluation = binary_frame(600), binary_frame(300, seed=1)
    for frame in (train, evaluation):
        frame["who"] = [f"p{i % 40}" for i in range(len(frame))]
    return write_system(
        folder,
        train,
        evaluation,
        sections={
            "model": {"features": "feats:build", "tests": "tests"},
            "policy": {"deny": deny if deny is not None else ["secret*", "*_raw"]},
            "gate": {"min": {"roc_auc": 0.55}},
        },
        files={
            "feats.py": FEATURES,
            "tests/test_feats.py": "import feats\n\n\ndef test_build():\n    assert feats\n",
        },
    )


def plant_nothing(copy: Copy) -> None:
    """A fault that changes nothing: the check cannot catch it."""
    copy.notes["planted"] = "nothing"


BLIND = Fault("data.4", "a fault that plants nothing", plant_nothing, key="data.4-blind")


def folder_hashes(root: Path) -> dict[str, str]:
    """The SHA-256 of every file under `root` (the selftest result left out)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "selftest.json"
    }
