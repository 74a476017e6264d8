"""Which engine runs Keel's data work: this machine ("local") or a Spark cluster ("spark").

`[engine]` in keel.toml sets it for a system; `--engine` (and `--master`) on `keel profile`,
`keel schema validate` and `keel monitor` override it for one run. `spark_settings` turns the
choice into `keel.data.spark.SparkSettings`, or None for the local engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.errors import ConfigError

if TYPE_CHECKING:
    from keel.config import EngineSection
    from keel.data.spark import SparkSettings

KINDS = ("local", "spark")


def spark_settings(
    section: EngineSection | None = None, *, kind: str | None = None, master: str | None = None
) -> SparkSettings | None:
    """The Spark settings to run with, or None for the local engine. `kind` and `master`
    (from the command line) win over the `[engine]` section."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"--engine {kind!r}: expected one of {', '.join(KINDS)}")
    chosen = kind or (section.kind if section is not None else "local")
    if master is not None and chosen != "spark":
        raise ConfigError("--master is a Spark master URL: it needs --engine spark")
    if chosen == "local":
        return None
    from keel.data.spark import SparkSettings

    if section is None:
        return SparkSettings(master=master)
    return SparkSettings(
        master=master or section.master, app_name=section.app_name, conf=dict(section.settings)
    )
