"""What `keel selftest` found, as plain data: one `FaultResult` per planted fault, and the
verdict rules that turn the clean and the faulty run of a check into caught, missed or why not.

Verdicts:
- `caught`: the check passes (or is attested) on the clean copy and fails on the faulty one;
- `missed`: it passes on the faulty copy too: the check is weak on this system;
- `errored`: it raised on the faulty copy: an error is not a catch, so weak too;
- `not proven`: it does not pass on the clean copy, so there is nothing to compare: weak;
- `not applicable`: the fault cannot be planted on this system (the reason says why); neither
  a catch nor a weakness.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keel.atomic import write_text_atomic

WEAK = ("missed", "errored", "not proven")
VERDICTS = ("caught", *WEAK, "not applicable")
FILE = "selftest.json"  # under the user's .keel/


@dataclass
class CheckRun:
    """One run of a practice's check on a copy: its status, summary and facts (as JSON)."""

    status: str
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class FaultResult:
    """One planted fault: which practice's check had to catch it, the verdict and why."""

    practice: str
    fault: str  # the fault's name, e.g. "a noise input"
    key: str  # the fault's id, e.g. "data.2-noise"
    verdict: str  # one of VERDICTS
    reason: str = ""
    clean: CheckRun | None = None
    faulty: CheckRun | None = None
    planted: dict[str, Any] = field(default_factory=dict)  # what the fault's notes say it did
    seconds: float = 0.0

    @property
    def weak(self) -> bool:
        return self.verdict in WEAK


@dataclass
class SelftestResult:
    """A `keel selftest` run: the system it proved, when, and every fault's result."""

    system: str
    root: str
    system_key: str  # System.key of the user's system: the report shows a result as fresh
    git_commit: str | None  # only while the system is in this state
    keel_version: str
    started_at: str
    duration_s: float
    jobs: int
    faults: list[FaultResult] = field(default_factory=list)
    scratch: str | None = None  # the scratch folder, when kept (--keep)

    @property
    def weak(self) -> list[FaultResult]:
        return [f for f in self.faults if f.weak]

    @property
    def passed(self) -> bool:
        """Every planted fault was caught (or could not be planted here)."""
        return not self.weak

    def practices(self) -> dict[str, tuple[str, str]]:
        """Per practice: ("caught" | "weak" | "not applicable", the reasons of weak faults)."""
        found: dict[str, list[FaultResult]] = {}
        for f in self.faults:
            found.setdefault(f.practice, []).append(f)
        out = {}
        for practice, faults in found.items():
            weak = [f for f in faults if f.weak]
            if weak:
                out[practice] = ("weak", "; ".join(f"{f.fault}: {f.reason}" for f in weak))
            elif any(f.verdict == "caught" for f in faults):
                out[practice] = ("caught", "")
            else:
                out[practice] = ("not applicable", "; ".join(f.reason for f in faults))
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["practices"] = {
            p: {"verdict": v, "reason": r} for p, (v, r) in self.practices().items()
        }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def judge(
    clean: CheckRun | None,
    faulty: CheckRun | None,
    *,
    not_applicable: str | None = None,
    why_weak: str | None = None,
) -> tuple[str, str]:
    """(verdict, reason) of one fault from the clean and the faulty run of its check."""
    if not_applicable is not None:
        return "not applicable", not_applicable
    if clean is None or clean.status not in ("pass", "attested"):
        got = "no clean run" if clean is None else f"{clean.status}: {clean.summary}"
        return "not proven", f"the check does not pass on the clean copy ({got})"
    if faulty is None:
        return "errored", "the faulty copy was not checked"
    if faulty.status == "fail":
        return "caught", faulty.summary
    if faulty.status == "error":
        return "errored", f"the check raised on the faulty copy: {faulty.summary}"
    if faulty.status in ("pass", "attested"):
        return "missed", why_weak or f"the check passed on the faulty copy: {faulty.summary}"
    return "missed", f"the check did not judge the faulty copy ({faulty.status}): {faulty.summary}"


def plain(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts as JSON values (anything else as its text)."""
    return json.loads(json.dumps(facts, default=str))


def write(result: SelftestResult, keel_dir: Path) -> Path:
    """Write the result as `.keel/selftest.json` of the user's system; return its path."""
    keel_dir.mkdir(parents=True, exist_ok=True)
    path = keel_dir / FILE
    write_text_atomic(path, result.to_json())
    return path


def read(keel_dir: Path) -> dict[str, Any] | None:
    """The last selftest result written under `keel_dir`, or None (absent or unreadable)."""
    try:
        return json.loads((keel_dir / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
