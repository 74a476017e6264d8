"""Alerts: a failing monitor check becomes one webhook POST per cause per window, and a record.

Every alert is appended to the alert history (`.keel/monitor/alerts.jsonl`, one JSON object per
line) with what each webhook answered. An alert is identified by (practice, cause, window):
once delivered to every webhook it is never sent again, however often `keel monitor` runs in
that window; one that could not be delivered is retried on the next run. A POST is retried with
exponential backoff (0.5 s, 1 s, 2 s, …) on a connection error, a timeout or a 5xx answer; a
4xx is not retried (the receiver refused the body). Nothing here raises on a failed delivery:
the failure is recorded and shown by `keel alerts`.

Bodies: "json" sends the alert's fields; "slack" sends `{"text": ...}`, which Slack's incoming
webhooks (and Mattermost's, Teams' legacy connectors) accept.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from keel.errors import KeelError


@dataclass(frozen=True)
class Alert:
    """One reason to tell someone: a practice's check failed for a cause in a window."""

    practice: str
    cause: str  # a short, stable key: the same problem in the same window is one alert
    window: str
    summary: str
    system: str = ""

    @property
    def key(self) -> str:
        return f"{self.practice}|{self.cause}|{self.window}"


@dataclass(frozen=True)
class AlertSettings:
    """`[alerts]` as plain values."""

    webhooks: tuple[str, ...] = ()
    format: Literal["json", "slack"] = "json"
    retries: int = 3
    timeout_seconds: float = 5.0


@dataclass
class Delivery:
    """What became of one alert: per webhook, delivered or the last error."""

    alert: Alert
    when: str
    results: dict[str, str] = field(default_factory=dict)  # url -> "delivered" | error

    @property
    def delivered(self) -> bool:
        return bool(self.results) and all(r == "delivered" for r in self.results.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.alert),
            "key": self.alert.key,
            "when": self.when,
            "results": self.results,
            "delivered": self.delivered,
        }


def body(alert: Alert, kind: str) -> dict[str, Any]:
    """The JSON body of an alert: Keel's fields, or Slack's {"text": ...}."""
    if kind == "slack":
        who = f"[{alert.system}] " if alert.system else ""
        return {"text": f"{who}{alert.practice} failed ({alert.window}): {alert.summary}"}
    return {
        "practice": alert.practice,
        "cause": alert.cause,
        "window": alert.window,
        "summary": alert.summary,
        "system": alert.system,
    }


def _post(url: str, payload: dict[str, Any], timeout: float) -> tuple[bool, str]:
    """(retry makes sense, outcome) of one POST."""
    data = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return False, "delivered" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code >= 500, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return True, f"{type(exc).__name__}: {exc}"


def deliver(
    alert: Alert,
    settings: AlertSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    only: set[str] | None = None,
) -> Delivery:
    """POST `alert` to each webhook (or those in `only`), retrying as the module doc says."""
    delivery = Delivery(alert, datetime.now(UTC).isoformat(timespec="seconds"))
    payload = body(alert, settings.format)
    for url in settings.webhooks:
        if only is not None and url not in only:
            continue
        outcome = ""
        for attempt in range(settings.retries + 1):
            retry, outcome = _post(url, payload, settings.timeout_seconds)
            if not retry or attempt == settings.retries:
                break
            sleep(0.5 * 2**attempt)
        delivery.results[url] = outcome
    return delivery


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Every recorded delivery, oldest first (a torn last line from a crash is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # a torn tail
            raise KeelError(
                f"{path}, line {number}: not JSON; the alert history is damaged"
            ) from None
    return out


def _delivered_to(history: list[dict[str, Any]]) -> dict[str, set[str]]:
    """For each alert key, the webhooks that have it already."""
    done: dict[str, set[str]] = {}
    for entry in history:
        for url, result in (entry.get("results") or {}).items():
            if result == "delivered":
                done.setdefault(entry["key"], set()).add(url)
    return done


def send_alerts(
    alerts: list[Alert],
    settings: AlertSettings,
    history_file: str | Path,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send each alert not yet delivered to every webhook, and record what happened.

    With no webhooks configured the alerts are still recorded (results empty), once each.
    """
    history_file = Path(history_file)
    history = read_history(history_file)
    done = _delivered_to(history)
    recorded = {e["key"] for e in history}
    deliveries = []
    for alert in alerts:
        missing = {u for u in settings.webhooks if u not in done.get(alert.key, set())}
        if not settings.webhooks and alert.key in recorded:
            continue
        if settings.webhooks and not missing:
            continue
        delivery = deliver(alert, settings, sleep=sleep, only=missing)
        deliveries.append(delivery)
        history_file.parent.mkdir(parents=True, exist_ok=True)
        with history_file.open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(delivery.to_dict()) + "\n")
            sink.flush()
    return deliveries
