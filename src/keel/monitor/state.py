"""What every monitoring judgement starts from: the windows of served traffic the intake took
for this run, the serving champion, and the gate of the checks that judge the serving version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.evidence import Evidence, not_configured
from keel.monitor.intake import IntakeRun
from keel.monitor.summary import PartSummary


@dataclass
class MonitorState:
    """The windows of served traffic, oldest first, and where they came from."""

    log_root: Path
    state_dir: Path
    windows: dict[tuple[str, int], PartSummary]
    run: IntakeRun
    champion: Any  # keel.registry.versions.ModelVersion, or None when nothing serves
    spark: Any = None  # keel.data.spark.SparkSettings when the log is taken on Spark
    # who wrote the served traffic: "keel", or the foreign format ([serving] format) whose
    # records were taken into the log this run (`imported`: keel.log.foreign.importer.ImportRun)
    source_format: str = "keel"
    imported: Any = None

    @property
    def foreign(self) -> bool:
        """Whether another server wrote the served traffic (its log lacks what it never logged)."""
        return self.source_format != "keel"

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.windows.values())

    def of_version(self, version: int) -> list[PartSummary]:
        """The windows one model version served, oldest first."""
        return [w for (_, v), w in self.windows.items() if v == version]


def not_yet_served(practice: str, state: MonitorState, min_rows: int) -> Evidence | None:
    """`not_configured` when the serving version has fewer than `min_rows` served rows of its
    own in the log (none at all: "version 3 has not served yet"), else None.

    The gate of the checks that judge the serving version on its traffic (monitor.3, 5, 6, 7):
    the windows other versions served say nothing about it, so judging them would pass a
    version that was never measured. Without a champion the gate lets the check say so itself.
    """
    champion = state.champion
    if champion is None:
        return None
    version = champion.version
    rows = sum(w.rows for w in state.of_version(version))
    if rows >= min_rows:
        return None
    others = sorted({v for _, v in state.windows if v != version})
    if others:
        shown = "version(s) " + ", ".join(str(v) for v in others)
        elsewhere = f"; the log's {state.rows - rows:,} other rows were served by {shown}"
    else:
        elsewhere = ""
    said = (
        f"version {version} has not served yet"
        if rows == 0
        else f"version {version} has served {rows} row(s), fewer than [monitor] min_rows "
        f"({min_rows})"
    )
    return not_configured(
        practice,
        f"{said}{elsewhere}: nothing measured of the serving version",
        f"Send version {version} traffic (`keel serve` follows the registry's champion), then "
        "run `keel monitor` (or `keel score`) again.",
    )
