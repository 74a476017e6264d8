"""Writing keel.toml back from its parsed form: what `keel selftest` needs to edit a copy's
configuration (the registry, the prediction log, a fault's change) without a TOML library.

Comments are not kept: the file written is the copy's, never the user's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if not isinstance(value, float) or value == value else "nan"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(data: dict[str, Any]) -> str:
    """TOML text for a parsed keel.toml: top-level tables as [section] headers, deeper tables
    (e.g. [attest."model.2"]) as dotted headers, anything below them inline."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for name, table in data.items():
        if not isinstance(table, dict):
            continue
        _table(lines, [name], table)
    return "\n".join(lines) + "\n"


def _table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    plain = {k: v for k, v in table.items() if not _is_section(v)}
    nested = {k: v for k, v in table.items() if _is_section(v)}
    if plain or not nested:
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in plain.items())
    for name, sub in nested.items():
        _table(lines, [*path, name], sub)


def _is_section(value: Any) -> bool:
    """A sub-table written as its own header: one holding a table itself (attestations)."""
    return isinstance(value, dict) and any(isinstance(v, dict) for v in value.values())


def read(path: Path) -> dict[str, Any]:
    """The parsed keel.toml at `path`."""
    return tomllib.loads(path.read_text(encoding="utf-8"))


def write(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as keel.toml at `path`."""
    path.write_text(dumps(data), encoding="utf-8")
