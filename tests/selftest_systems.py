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


def setup_marked(copy: Copy) -> None:
    """A shared setup that leaves a mark each time it runs, in every process (the file named
    by KEEL_TEST_SETUP_MARKS; the in-turn test counts them)."""
    import os

    marks = Path(os.environ["KEEL_TEST_SETUP_MARKS"])
    with marks.open("a") as out:
        out.write(f"{copy.root}\n")


def denied_after_setup(copy: Copy) -> None:
    from keel.selftest.faults_data import denied_input

    denied_input(copy)


# planted in turn on one copy (IN_TURN below): the blind one first, so data.4 still passes
# before the deny-listed input is planted
TURN_BLIND = Fault("data.4", "nothing, in turn", plant_nothing, setup_marked, key="turn-blind")
TURN_DENIED = Fault(
    "data.4", "a deny-listed input, in turn", denied_after_setup, setup_marked, key="turn-denied"
)
IN_TURN = {"setup_marked": ["data.4"]}


def in_git(folder: Path) -> str:
    """Make `folder` a git repository with everything in it committed (as a user's system
    under version control), whatever the machine's git identity; its commit."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    (folder / ".gitignore").write_text(".keel/\ndata/\n")
    git("add", "-A")
    git("commit", "-q", "-m", "the system")
    return git("rev-parse", "HEAD")


def online_system(folder: Path) -> Path:
    """A binary system whose served traffic can get late labels: an id column, feature code,
    a reviewed schema and a gate; three versions serve 300 evaluation rows each (model.2)."""
    from drills import infer_schema

    train, evaluation = binary_frame(1500), binary_frame(900, seed=1)
    for name, frame in (("t", train), ("e", evaluation)):
        frame.insert(0, "uid", [f"{name}{i}" for i in range(len(frame))])
    path = write_system(
        folder,
        train,
        evaluation,
        files={"feats.py": FEATURES.replace('"who"', '"uid"')},
        sections={
            "system": {"id": "uid"},
            "model": {"features": "feats:build"},
            "gate": {"min": {"roc_auc": 0.6}},
            "serve": {"poll_seconds": 0.3},
            "monitor": {"min_labels": 100, "min_rows": 50},
        },
    )
    infer_schema(folder)
    return path
