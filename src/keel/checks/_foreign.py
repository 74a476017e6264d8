"""The one step before the log is read, when another server wrote the served traffic:
`[serving]` (format, source, versions, columns) as the log layer's plain `ForeignSettings`,
and the source's new records taken into Keel's own log (`keel.log.foreign.importer`).

Called once at the top of the monitor's intake (`keel.checks._monitor_state._take`) and by
`keel logs query`, so both read the foreign records as Keel's own; nothing happens for
`format = "keel"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.log.foreign import ForeignSettings

if TYPE_CHECKING:
    from keel.log.foreign.importer import ImportRun


def source_of(source: str, root: Path) -> str:
    """`[serving] source` as the importer opens it: a URL as it is, a path relative to the
    folder of keel.toml."""
    if "://" in source or Path(source).is_absolute():
        return source
    return str(root / source)


def serving_inputs(config: Any, root: Path) -> list[str] | None:
    """The features a served row holds, in keel.schema.yaml's order (what a SageMaker CSV
    payload's values are, in order); None without a schema file."""
    from keel.data.schema import load_schema

    path = root / config.data.schema_file
    if not path.is_file():
        return None
    schema = load_schema(path)
    target = config.system.target
    return [
        name
        for name, feature in schema.features.items()
        if name != target and "serving" not in feature.absent_in
    ]


def foreign_settings(config: Any, root: Path) -> ForeignSettings | None:
    """`[serving]` as `ForeignSettings`, or None when the log is Keel's own."""
    serving = config.serving
    if serving.format == "keel" or not serving.source:
        return None
    columns: dict[str, Any] = {}
    if serving.columns is not None:
        columns = serving.columns.model_dump()
    elif serving.format == "sagemaker":
        inputs = serving_inputs(config, root)
        if inputs:
            columns = {"inputs": inputs}
    return ForeignSettings(
        serving.format,
        source_of(serving.source, root),
        serving.model_version,
        dict(serving.versions),
        columns,
    )


def schema_check(config: Any, root: Path) -> Any:
    """Each row's problems against keel.schema.yaml, worded as `keel serve` logs them
    (`rows[0].x1: expected a number ≥ 0, got -1`), for monitor.2; None without a schema.
    Fields the schema does not know are let through (a foreign server logs its own)."""
    from keel.data.schema import load_schema
    from keel.serve.validation import RowValidator

    path = root / config.data.schema_file
    if not path.is_file():
        return None
    validator = RowValidator(load_schema(path), "serving", unknown="ignore")
    return lambda inputs: [p.message(0) for p in validator.problems(inputs)]


def take_foreign_log(config: Any, root: Path, log_root: Path) -> ImportRun | None:
    """Take the foreign source's new records into the log at `log_root`, each row checked
    against the schema (see the module docstring); None when `[serving] format` is "keel"."""
    settings = foreign_settings(config, root)
    if settings is None:
        return None
    from keel.log.foreign.importer import take_foreign  # a foreign log only: pandas and all

    return take_foreign(settings, log_root, check=schema_check(config, root))
