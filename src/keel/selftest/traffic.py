"""Served traffic for the selftest's serving and monitoring faults, on a scratch copy only.

The monitoring checks judge what a real server logged, and infra.6/infra.7 what the registry
recorded of a canary and a rollback drill; a scratch copy holds none of that. This module
builds it with Keel's own parts, on the copy's own registry and log (`Copy.registry_uri`,
`Copy.log_folder`): versions registered and promoted through the gate (`register`,
`promote_through_gate`), a real `keel serve` process on a loopback port (`serving`), the
copy's evaluation rows sent to it as a client sends them (`client_rows`, `send`), the records
it logged kept aside (`keep_served`, `served_records`) so that a fault can add records shaped
exactly like them (`append_records`), and late labels for the served rows (`write_labels`).
Everything it writes of its own lives under `<copy>/.selftest`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from keel.errors import KeelError
from keel.selftest.fault import Copy
from keel.system import System

__all__ = [
    "SCRATCH",
    "SELFTEST",
    "append_records",
    "client_rows",
    "keep_served",
    "promote_through_gate",
    "register",
    "scratch",
    "send",
    "served_records",
    "serving",
    "set_config_key",
    "set_lineage",
    "system_of",
    "wait_for",
    "write_labels",
]

SCRATCH = ".selftest"  # the copy's folder for what the selftest writes
SELFTEST = "keel selftest"  # who the registry records for its promotions, canaries and drills
SERVED = "served.jsonl"  # the records the server logged during setup, kept for the faults
LABELS = "labels.parquet"  # late labels of the served rows


def scratch(copy: Copy) -> Path:
    """`<copy>/.selftest`, made when missing."""
    folder = copy.root / SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def system_of(copy: Copy) -> System:
    """The copy as a System, read afresh (its keel.toml may have changed)."""
    return System.from_path(copy.config_file)


# -- keel.toml ---------------------------------------------------------------------------


def set_config_key(config_file: Path, section: str, key: str, value: str) -> None:
    """Set `[section] key = "value"` in the copy's keel.toml, keeping every other line: the
    key's line replaced when the section has it, else added under the section's header (a
    section the file lacks is added at its end)."""
    lines = config_file.read_text(encoding="utf-8").splitlines()
    assignment = f"{key} = {json.dumps(value, ensure_ascii=False)}"
    header = f"[{section}]"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        lines += ["", header, assignment]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        found = next(
            (
                i
                for i in range(start + 1, end)
                if lines[i].split("=", 1)[0].strip() in (key, json.dumps(key))
            ),
            None,
        )
        if found is None:
            lines.insert(start + 1, assignment)
        else:
            lines[found] = assignment
    config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- the registry ------------------------------------------------------------------------


def register(system: System, *, staleness_limit: bool = False) -> int:
    """Register the system's trained model (trained once, cached) as a new version; with
    `staleness_limit`, model.4's age limit is stored with it (for monitor.4)."""
    from keel.training import train_and_register

    return train_and_register(system, staleness_limit=staleness_limit).version


def promote_through_gate(system: System, version: int, reason: str = "") -> bool:
    """Promote `version` through the gate; a version the gate refuses is promoted by force
    with the gate's reasons recorded (the faults need a champion either way). True when the
    gate passed it."""
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref

    ref, gate = registry_ref(system), gate_inputs(system)
    verdict = promote(ref, version, gate, reason=reason or None, who=SELFTEST)
    if verdict.promoted:
        return True
    why = "; ".join(verdict.failures) or "the gate refused it"
    promote(ref, version, gate, force=True, reason=f"{SELFTEST}: {why}", who=SELFTEST)
    return False


def set_lineage(system: System, version: int, lineage: dict[str, Any]) -> None:
    """Replace the lineage recorded on `version` (the `keel.lineage` tag monitor.1 and
    monitor.4 read) in the copy's registry."""
    from keel.registry.lineage import LINEAGE_TAG
    from keel.registry.store import connect, translated
    from keel.training import registry_ref

    store = connect(registry_ref(system))
    with translated(store.uri):
        text = json.dumps(lineage, sort_keys=True)
        store.client.set_model_version_tag(store.model, str(version), LINEAGE_TAG, text)


# -- the server --------------------------------------------------------------------------


@contextlib.contextmanager
def serving(system: System) -> Iterator[str]:
    """A real `keel serve` of the copy on a free loopback port (following the copy's
    registry, logging to its log), stopped on leaving: its URL. Stopping it seals the log's
    open segment, so what it served is there for the monitor's intake."""
    from keel.serve.process import LOOPBACK, free_port, launch

    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "keel", "serve", str(system.root), "--port", str(port)]
    with launch(argv, url=url, cwd=system.root):
        yield url


def wait_for(url: str, champion: int, candidate: int | None = None, wait: float = 0) -> None:
    """Wait until the server at `url` serves `champion` (and `candidate` as its canary, or no
    canary when None): it follows the registry every `[serve] poll_seconds`. `wait` defaults
    to a minute."""
    from keel.serve.process import ServeError, get_json

    deadline = time.monotonic() + (wait or 60)
    while True:
        status, info = get_json(url + "/version", timeout=5)
        if (
            status == 200
            and isinstance(info, dict)
            and info.get("champion") == champion
            and info.get("candidate") == candidate
        ):
            return
        if time.monotonic() > deadline:
            raise ServeError(
                f"the selftest's server at {url} did not follow the registry: it serves "
                f"{info!r}, expected champion {champion} and candidate {candidate}"
            )
        time.sleep(0.2)


def client_rows(system: System, at_least: int = 0, at_most: int = 2000) -> list[dict[str, Any]]:
    """The evaluation rows as a client sends them (the target left out), repeated in order
    until there are `at_least`, and no more than `at_most`."""
    from keel.serve.process import json_rows

    raw = system.raw("eval", all_rows=True)
    raw = raw.drop(columns=[system.config.system.target], errors="ignore").reset_index(drop=True)
    if raw.empty:
        raise KeelError("the evaluation data has no rows to serve")
    rows = json_rows(raw.head(at_most))
    while len(rows) < at_least:
        rows += rows[: at_least - len(rows)]
    return rows[: max(at_most, at_least)]


def send(url: str, rows: list[dict[str, Any]], batch: int = 20) -> list[int]:
    """POST `rows` to the server's /predict, `batch` rows per request: each request's HTTP
    status (a refused request is logged by the server too, so it is not an error here)."""
    from keel.serve.process import ServeError, post_json

    statuses = []
    for start in range(0, len(rows), batch):
        status, answer = post_json(url + "/predict", {"rows": rows[start : start + batch]})
        if status == 0:
            raise ServeError(f"the selftest's server at {url} did not answer: {answer}")
        statuses.append(status)
    return statuses


# -- the prediction log ------------------------------------------------------------------


STRUCTURED = ("inputs", "model_inputs", "probabilities", "anomalies", "nonfinite")  # JSON text


def logged_records(copy: Copy) -> list[dict[str, Any]]:
    """Every record of the copy's log (rolled, sealed or left open by a stopped server), as
    the server wrote it: read through the log's own reader (`keel.log.read.query_live`),
    its JSON fields parsed back."""
    from keel.log.read import query_live

    try:
        table = query_live("SELECT * FROM records ORDER BY time, request_id, row", copy.log_folder)
    except KeelError:
        return []
    records = []
    for row in table.to_pylist():
        row.pop("date", None)
        record = {k: v for k, v in row.items() if v is not None or k == "prediction"}
        for name in STRUCTURED:
            if isinstance(record.get(name), str):
                record[name] = json.loads(record[name])
        records.append(record)
    return records


def keep_served(copy: Copy) -> int:
    """Keep the records the server logged (`<copy>/.selftest/served.jsonl`): the faults add
    records shaped exactly like them. The number kept."""
    records = logged_records(copy)
    if not records:
        raise KeelError(f"the selftest's server logged nothing under {copy.log_folder}")
    path = scratch(copy) / SERVED
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return len(records)


def served_records(copy: Copy, version: int | None = None) -> list[dict[str, Any]]:
    """The records kept by `keep_served` (those of `version` only, when given; refused rows
    and failed predictions left out)."""
    path = copy.root / SCRATCH / SERVED
    if not path.is_file():
        raise KeelError(f"{path} does not exist: the fault's setup did not serve traffic")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [
        r
        for r in records
        if r.get("route") != "rejected"
        and not r.get("error")
        and (version is None or r.get("model_version") == version)
    ]


def append_records(copy: Copy, records: list[dict[str, Any]]) -> None:
    """Append `records` to the copy's prediction log with the server's own writer (sealed on
    close, so the monitor's intake takes them)."""
    from keel.log.writer import PredictionLog, segments_dir

    with PredictionLog(segments_dir(copy.log_folder)) as log:
        for start in range(0, len(records), 200):
            log.append(records[start : start + 200])


def write_labels(copy: Copy, system: System) -> Path | None:
    """Late labels for the evaluation rows (the served ones): `[system] id` and the target,
    written to `<copy>/.selftest/labels.parquet`, which the copy's `[data] labels` then
    names. None (nothing written) without a `[system] id`: labels cannot join served rows."""
    s = system.config.system
    if not s.id:
        return None
    raw = system.raw("eval", all_rows=True)
    if s.id not in raw.columns or s.target not in raw.columns:
        return None
    frame = pd.DataFrame({s.id: raw[s.id].to_numpy(), s.target: raw[s.target].to_numpy()})
    path = scratch(copy) / LABELS
    frame.to_parquet(path, index=False)
    set_config_key(copy.config_file, "data", "labels", f"{SCRATCH}/{LABELS}")
    return path
