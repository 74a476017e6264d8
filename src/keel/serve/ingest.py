"""The HTTP app of `keel ingest`: KServe/Seldon payload-logging CloudEvents in, Keel's log out.

    POST <any path>  one event in binary mode (`ce-*` headers, the inference body as JSON), one
                     in structured mode (`application/cloudevents+json`) or several
                     (`application/cloudevents-batch+json`, a JSON array). 200 once taken (see
                     below); 400 naming the header, attribute or body field of a malformed
                     event (a batch with one is refused whole, nothing of it taken); 413 for a
                     body over `max_body_bytes`; 503 when the log cannot be written. Never 500.
    GET /health      the process is up (also /ready)
    GET /metrics     Prometheus text: events received by type, rows written, events held
                     unpaired (and their bytes), events dropped by reason, malformed events

A request event and its response share `ce-id` (`keel.log.foreign.cloudevents`). The first of
the two to arrive is held in memory; the second completes the pair, and the pair's records (one
per instance) are written through `keel.log.writer.PredictionLog`.

What a 200 guarantees: an event that completed a pair answers once the pair's rows are written
with the log's durability: with `[serve] durability = "ack"`, fsynced (concurrent events share
one fsync: the app hands the log everything completed while the previous write was on disk, and
the log's own group commit does the rest). An event that did not complete a pair (the usual
request, or a response that came first) answers once it is held: it is in this process's memory
only, and lost if the process dies before its partner arrives (`keel_ingest_held_events` is how
many that would be at any moment). A graceful stop (Ctrl-C, SIGTERM) writes the held events to
`held_file` and a restart takes them back, so only a crash loses them.

Bounded memory: an event held longer than `pair_seconds`, or the oldest beyond `max_held_bytes`
of held bodies, leaves the memory. A request that leaves this way is written as rows with its
inputs, no prediction and `error` "no response event ..." (KServe sends no response event for
a failed request, so monitor.2 counts these as failed predictions); a response without its
request is dropped (it holds no inputs) and counted in `keel_ingest_dropped_events`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.atomic import write_bytes_atomic
from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign.cloudevents import (
    BATCH,
    STRUCTURED,
    CloudEventError,
    Event,
    Pairing,
    binary_event,
    event_line,
    read_events,
    structured_event,
    unanswered,
)
from keel.log.writer import PredictionLog

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class IngestSettings:
    """What the receiver enforces (`keel ingest` options)."""

    pair_seconds: float = 30.0  # how long an event waits for its partner
    max_held_bytes: int = 64 * 1024 * 1024  # bodies held waiting, at most
    max_body_bytes: int = 8 * 1024 * 1024
    held_file: Path | None = None  # where a graceful stop keeps the held events
    clock: Callable[[], float] = field(default=time.time, repr=False)


class _Metrics:
    def __init__(self) -> None:
        self.events = {"request": 0, "response": 0}
        self.malformed = 0
        self.rows = 0
        self.unanswered_rows = 0
        self.dropped: dict[str, int] = {}

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count


def _header(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}


async def _answer(send: Send, status: int, body: dict[str, Any], kind: str = "json") -> None:
    data = (json.dumps(body) if kind == "json" else body["text"]).encode()
    media = b"application/json" if kind == "json" else b"text/plain; version=0.0.4"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


class Receiver:
    """The ASGI app (see the module): pairs events of `foreign` settings into `log`."""

    def __init__(
        self, foreign: ForeignSettings, log: PredictionLog, settings: IngestSettings | None = None
    ) -> None:
        self.foreign = foreign
        self.log = log
        self.settings = settings or IngestSettings()
        self.pairing = Pairing(foreign)
        self.metrics = _Metrics()
        self._pending: list[dict[str, Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._writing: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="keel-ingest-append")
        self._expiry: asyncio.Task[None] | None = None
        self._restore()

    # -- the held events across a graceful restart -------------------------------------------

    def _restore(self) -> None:
        file = self.settings.held_file
        if file is None or not file.is_file():
            return
        try:
            events = read_events(file.read_bytes(), str(file), self.foreign)
        except KeelError:
            return  # a held file this version cannot read: start empty, keep the file
        for event in events:
            try:
                self._take_now(event)
            except CloudEventError:
                self.metrics.drop("pair does not fit")
        file.unlink()

    def keep_held(self) -> int:
        """Write the held events to `held_file` (graceful stop); how many."""
        file = self.settings.held_file
        held = self.pairing.held()
        if file is None or not held:
            return 0
        write_bytes_atomic(file, b"".join(event_line(e) for e in held))
        return len(held)

    # -- taking events -------------------------------------------------------------------------

    def _take_now(self, event: Event) -> None:
        """Pair `event` and queue its records without waiting for them (restore, expiry)."""
        made = self.pairing.add(event)
        if made:
            self._pending.extend(made)

    def _expire(self) -> None:
        """Let go of events held too long or beyond the memory bound (see the module)."""
        limit = self.settings.clock() - self.settings.pair_seconds
        for event in self.pairing.expire(limit, self.settings.max_held_bytes):
            if event.kind == "response":
                self.metrics.drop("response without its request")
                continue
            made = unanswered(
                event,
                self.foreign,
                f"no response event within {self.settings.pair_seconds:g} s (KServe sends none "
                "for a failed request)",
            )
            if not made:
                self.metrics.drop("request without a registered version")
            self.metrics.unanswered_rows += len(made)
            self._pending.extend(made)
        if self._pending and self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write_pending())

    async def _write_pending(self) -> None:
        """Hand the log everything completed so far, again until nothing is left (one append,
        one fsync, per round), then wake the callers of each round."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending or self._waiters:
                rows, self._pending = self._pending, []
                waiters, self._waiters = self._waiters, []
                try:
                    if rows:
                        await loop.run_in_executor(self._pool, self.log.append, rows)
                        self.metrics.rows += len(rows)
                except Exception as exc:  # noqa: BLE001 - each caller answers 503
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._writing = None

    async def _durable(self) -> None:
        """Wait until everything queued so far is written (with the log's durability)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write_pending())
        await waiter

    def _events(self, headers: dict[str, str], body: bytes) -> list[Event]:
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        now = self.settings.clock()
        if kind not in (STRUCTURED, BATCH):
            return [binary_event(headers, body, now, self.foreign)]
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CloudEventError("body", f"not JSON ({exc})") from None
        if kind == STRUCTURED:
            return [structured_event(parsed, now, self.foreign, size=len(body))]
        if not isinstance(parsed, list):
            raise CloudEventError("body", "a batch of CloudEvents is a JSON array")
        out = []
        for i, obj in enumerate(parsed):
            try:
                out.append(structured_event(obj, now, self.foreign))
            except CloudEventError as exc:
                raise CloudEventError(f"[{i}].{exc.field}", exc.message) from None
        return out

    async def take(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """(status, answer) for one POST: its events paired, completed rows written."""
        try:
            events = self._events(headers, body)
        except CloudEventError as exc:
            self.metrics.malformed += 1
            return 400, {"error": exc.message, "field": exc.field}
        problems = []
        completed = 0
        for event in events:
            self.metrics.events[event.kind] += 1
            try:
                made = self.pairing.add(event)
            except CloudEventError as exc:
                self.metrics.drop("pair does not fit", 2)
                problems.append(exc)
                continue
            if made:
                completed += len(made)
                self._pending.extend(made)
        self._expire()
        if completed:
            try:
                await self._durable()
            except Exception as exc:  # noqa: BLE001 - the log cannot be written
                return 503, {"error": f"the prediction log cannot be written: {exc}"}
        if problems:
            return 400, {"error": problems[0].message, "field": problems[0].field}
        return 200, {"rows": completed, "held": len(self.pairing)}

    def metrics_text(self) -> str:
        m = self.metrics
        lines = [
            "# HELP keel_ingest_events_total CloudEvents received, by type",
            "# TYPE keel_ingest_events_total counter",
            *(f'keel_ingest_events_total{{type="{k}"}} {v}' for k, v in m.events.items()),
            "# HELP keel_ingest_malformed_events_total Bodies refused with 400",
            "# TYPE keel_ingest_malformed_events_total counter",
            f"keel_ingest_malformed_events_total {m.malformed}",
            "# HELP keel_ingest_rows_written_total Rows written to the prediction log",
            "# TYPE keel_ingest_rows_written_total counter",
            f"keel_ingest_rows_written_total {m.rows}",
            "# HELP keel_ingest_unanswered_rows_total Rows of requests whose response never "
            "came, written without a prediction",
            "# TYPE keel_ingest_unanswered_rows_total counter",
            f"keel_ingest_unanswered_rows_total {m.unanswered_rows}",
            "# HELP keel_ingest_held_events Events held in memory waiting for their partner "
            "(lost if the process dies)",
            "# TYPE keel_ingest_held_events gauge",
            f"keel_ingest_held_events {len(self.pairing)}",
            "# HELP keel_ingest_held_bytes Bytes of the bodies held",
            "# TYPE keel_ingest_held_bytes gauge",
            f"keel_ingest_held_bytes {self.pairing.held_bytes}",
            "# HELP keel_ingest_dropped_events_total Events let go without a row, by reason",
            "# TYPE keel_ingest_dropped_events_total counter",
            *(
                f'keel_ingest_dropped_events_total{{reason="{k}"}} {v}'
                for k, v in m.dropped.items()
            ),
            f'keel_ingest_dropped_events_total{{reason="duplicate"}} {self.pairing.duplicates}',
            "# HELP keel_prediction_log_fsyncs_total fsyncs of the prediction log",
            "# TYPE keel_prediction_log_fsyncs_total counter",
            f"keel_prediction_log_fsyncs_total {self.log.fsyncs}",
            "# HELP keel_prediction_log_queue_depth Records waiting for the log writer",
            "# TYPE keel_prediction_log_queue_depth gauge",
            f"keel_prediction_log_queue_depth {self.log.queue_depth()}",
        ]
        return "\n".join(lines) + "\n"

    # -- ASGI ----------------------------------------------------------------------------------

    async def _every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._expire()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._expiry = asyncio.get_running_loop().create_task(self._every_second())
                if self._pending:  # restored pairs
                    await self._durable()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._expiry is not None:
                    self._expiry.cancel()
                if self._pending:
                    await self._durable()
                self.keep_held()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path in ("/health", "/ready"):
            await _answer(send, 200, {"status": "ok", "held": len(self.pairing)})
            return
        if method == "GET" and path == "/metrics":
            await _answer(send, 200, {"text": self.metrics_text()}, kind="text")
            return
        if method != "POST":
            await _answer(send, 405, {"error": "POST CloudEvents here; GET /health, /metrics"})
            return
        headers = _header(scope["headers"])
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, {"error": f"the body is over {limit:,} bytes"})
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, 413, {"error": f"the body is over {limit:,} bytes"})
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        status, answer = await self.take(headers, b"".join(chunks))
        await _answer(send, status, answer)
