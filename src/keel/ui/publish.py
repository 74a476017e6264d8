"""Publishing a run to the team view, without ever failing the run.

`publish(url, token, payload, outbox)` first sends what earlier runs left in the outbox
(`.keel/outbox/`, one JSON file per publish, written atomically, oldest first), then this
payload. A payload the server could not take now (no answer, a connection error, a 5xx, no
token given) stays in or goes to the outbox, and the next publish or `keel ui publish-pending`
sends it; the server stores a resend once (by its publish_id). A payload the server refused
(4xx: a bad token, an invalid report) is not retried: it moves to `.keel/outbox/refused/` with
the reason, and the reason is printed. Nothing here raises for a network or server problem.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.atomic import write_text_atomic

TIMEOUT_S = 15.0


@dataclass
class Outcome:
    """What one publish did: lines to print, and how many were sent, queued and refused."""

    sent: int = 0
    queued: int = 0
    refused: int = 0
    lines: list[str] = field(default_factory=list)


def publish(
    url: str,
    token: str | None,
    payload: dict[str, Any],
    outbox: Path,
    *,
    timeout: float = TIMEOUT_S,
) -> Outcome:
    """Send the outbox's pending publishes, then `payload`, to the team view at `url`."""
    outbox = Path(outbox)
    path = queue(payload, outbox)
    return publish_pending(url, token, outbox, timeout=timeout, newest=path)


def queue(payload: dict[str, Any], outbox: Path) -> Path:
    """Write `payload` into the outbox (atomically) and return its file."""
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{payload.get('publish_id', 'run')}.json"
    return write_text_atomic(outbox / name, json.dumps(payload, ensure_ascii=False))


def pending(outbox: Path) -> list[Path]:
    """The outbox's publishes not yet delivered, oldest first."""
    return sorted(Path(outbox).glob("*.json")) if Path(outbox).is_dir() else []


def publish_pending(
    url: str,
    token: str | None,
    outbox: Path,
    *,
    timeout: float = TIMEOUT_S,
    newest: Path | None = None,
) -> Outcome:
    """Send every pending publish in the outbox, oldest first; stop at the first the server
    could not take now (the rest wait for the next time)."""
    outcome = Outcome()
    files = pending(outbox)
    endpoint = url.rstrip("/") + "/api/reports"
    if not token:
        outcome.queued = len(files)
        outcome.lines.append(
            f"publish: no token (--token or KEEL_UI_TOKEN): {len(files)} report(s) wait in "
            f"{outbox}; `keel ui publish-pending` sends them"
        )
        return outcome
    for i, file in enumerate(files):
        label = "this run" if file == newest else f"queued {file.name}"
        status, message = _post(endpoint, token, file.read_bytes(), timeout)
        if status is not None and status < 300:
            file.unlink(missing_ok=True)
            outcome.sent += 1
            outcome.lines.append(f"publish: {label} sent to {url} ({message})")
        elif status is not None and 400 <= status < 500:
            _refuse(file, status, message)
            outcome.refused += 1
            outcome.lines.append(
                f"publish: {url} refused {label} ({status}: {message}); not retried, kept in "
                f"{file.parent / 'refused'}"
            )
        else:
            outcome.queued = len(files) - i
            outcome.lines.append(
                f"publish: {url} could not take {label} now ({message}); {outcome.queued} "
                f"report(s) wait in {outbox} and go with the next publish"
            )
            break
    return outcome


def _post(endpoint: str, token: str, body: bytes, timeout: float) -> tuple[int | None, str]:
    """(HTTP status, what it said); status None when no answer came."""
    request = urllib.request.Request(
        endpoint,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = _json(response.read())
            return response.status, f"run {answer.get('url', '')}".strip()
    except urllib.error.HTTPError as exc:
        answer = _json(exc.read())
        return exc.code, str(answer.get("error") or exc.reason)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"no answer: {reason}"


def _json(data: bytes) -> dict[str, Any]:
    try:
        found = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def _refuse(file: Path, status: int, message: str) -> None:
    folder = file.parent / "refused"
    folder.mkdir(exist_ok=True)
    write_text_atomic(folder / (file.stem + ".reason.txt"), f"{status}: {message}\n")
    file.replace(folder / file.name)


def publish_run(
    report: dict[str, Any],
    *,
    kind: str,
    keel_dir: Path,
    url: str,
    token: str | None,
    team: str | None = None,
    owner: str | None = None,
) -> Outcome:
    """Publish a run's report.json dict (`kind` score or monitor) from the system whose
    .keel folder is `keel_dir`, its outbox `keel_dir/outbox`. Never raises for the server."""
    from keel.ui.payload import envelope

    payload = envelope(report, kind=kind, team=team, owner=owner)
    return publish(url, token, payload, Path(keel_dir) / "outbox")
