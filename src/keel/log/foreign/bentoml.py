"""BentoML's monitoring output (`bentoml.monitor`): the JSON lines its default monitor writes,
`<cwd of the server>/monitoring/<monitor name>/data/data.<worker>.log` (rotated daily to
`data.<worker>.log.<date>`), one object per logged row:

    {"uid": "u1", "x1": 0.1, "group": "a", "prediction": 1, "probabilities": {"0": 0.3, …},
     "timestamp": "2026-10-01T12:00:04.976225", "request_id": "1064…", "trace_id": "5764…"}

beside `schema/schema.<worker>.log`, which gives each logged field's role (`mon.log(value,
name=…, role=…, data_type=…)`). Fields by role (or, without the schema file, by name):
role "feature" -> `inputs`; role "prediction" -> the prediction, or the probabilities when the
field is named `probabilities` or holds an object (class -> probability); role "id" (or a field
named `id`/`example_id`) -> `example_id`, the id late labels join on; role "model_version" (or
a field named `model_version`/`model_tag`) -> the version name `[serving] versions` maps (a
BentoML model tag such as "credit:3xk…"); a field named `latency_seconds` (or role "latency",
in seconds) -> the latency. Role "target" and any other role are left out.

`timestamp` is the server's local time without an offset (BentoML writes
`datetime.now().isoformat()`): read as UTC, so run the server with TZ=UTC. Not logged unless
the service logs it: the model inputs its feature code built, and the latency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable, finish, iso_time, json_lines, served_by

RESERVED = ("timestamp", "request_id", "trace_id")
ID_NAMES = ("id", "example_id")
VERSION_NAMES = ("model_version", "model_tag")
_ROLES: dict[str, dict[str, str]] = {}  # schema file -> {field: role}, once read


def _open(path: str) -> bytes | None:
    """A file's bytes by local path or URL; None when it cannot be read."""
    try:
        if "://" in path:
            from pyarrow import fs as pafs

            filesystem, inner = pafs.FileSystem.from_uri(path)
            with filesystem.open_input_stream(inner) as handle:
                return handle.read()
        with open(path, "rb") as handle:
            return handle.read()
    except (OSError, ValueError):
        return None


def schema_of(name: str) -> str | None:
    """The schema log beside a data log: `…/data/data.1.log[.date]` -> `…/schema/schema.1.log`."""
    path = PurePosixPath(name)
    if path.parent.name != "data" or not path.name.startswith("data."):
        return None
    worker = path.name.split(".")[1]
    return str(path.parent.parent / "schema" / f"schema.{worker}.log")


def roles_of(name: str) -> dict[str, str]:
    """{field: role} from the schema log beside the data log `name` (the newest entry); empty
    when there is none."""
    where = schema_of(name)
    if where is None:
        return {}
    if where in _ROLES:
        return _ROLES[where]
    data = _open(where)
    if data is None:
        return {}
    roles: dict[str, str] = {}
    for _, entry in json_lines(data):
        if isinstance(entry, dict) and isinstance(entry.get("columns"), list):
            roles = {str(c["name"]): str(c.get("role", "")) for c in entry["columns"]}
    _ROLES[where] = roles
    return roles


def _kind(field: str, value: Any, roles: dict[str, str]) -> str | None:
    """What a logged field is: "input", "prediction", "probabilities", "id", "version",
    "latency", or None (left out)."""
    role = roles.get(field)
    if role == "id" or (role is None and field in ID_NAMES):
        return "id"
    if role == "model_version" or (role is None and field in VERSION_NAMES):
        return "version"
    if role == "latency" or (role is None and field == "latency_seconds"):
        return "latency"
    if role == "prediction" or (role is None and field in ("prediction", "probabilities")):
        return (
            "probabilities"
            if field == "probabilities" or isinstance(value, dict)
            else ("prediction")
        )
    if role == "feature" or (role is None and not roles):
        return "input"
    return None


def record_of(line: dict[str, Any], roles: dict[str, str], settings: ForeignSettings) -> dict:
    """One logged row as a Keel record; ValueError/KeyError when it is not one."""
    record: dict[str, Any] = {
        "request_id": str(line.get("request_id")),
        "row": 0,
        "example_id": None,
        "time": iso_time(line["timestamp"]),
        "route": "champion",
        "inputs": {},
        "prediction": None,
    }
    version = None
    for field, value in line.items():
        if field in RESERVED:
            continue
        kind = _kind(field, value, roles)
        if kind == "input":
            record["inputs"][field] = value
        elif kind == "prediction":
            record["prediction"] = value
        elif kind == "probabilities":
            proba = json.loads(value) if isinstance(value, str) else value
            record["probabilities"] = {str(k): v for k, v in dict(proba).items()}
        elif kind == "id":
            record["example_id"] = None if value is None else str(value)
        elif kind == "version":
            version = value
        elif kind == "latency" and isinstance(value, int | float):
            record["latency_seconds"] = float(value)
    record["model_version"] = served_by(settings, version, "the BentoML model tag")
    return finish(record)


def read(data: bytes, name: str, settings: ForeignSettings) -> Iterator[Any]:
    """Keel records of a BentoML monitoring data log (see the module docstring); nothing of its
    schema log; `Unreadable` for a line that is not a logged row."""
    if PurePosixPath(name).parent.name == "schema":
        return
    roles = roles_of(name)
    for number, line in json_lines(data):
        if isinstance(line, Unreadable):
            yield line
            continue
        try:
            if not isinstance(line, dict):
                raise ValueError("not an object")
            yield record_of(line, roles, settings)
        except (ValueError, KeyError, TypeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            yield Unreadable(number, f"not a BentoML monitoring row: {what}")
