"""KServe and Seldon payload logging: request and response CloudEvents, paired into records.

KServe's logger (an InferenceService's `logger: {mode: all, url: ...}`) sends two CloudEvents
per answered request, in binary mode (the attributes as `ce-*` headers, the body as it was):

    ce-type       org.kubeflow.serving.inference.request / ...response (Seldon Core:
                  io.seldon.serving.inference.request / ...response)
    ce-id         the same for a request and its response: what pairs them
    ce-specversion 1.0, ce-source (the component's URL), ce-time (when the logger sent it)
    ce-inferenceservicename, ce-namespace, ce-component, ce-endpoint: extensions naming the
                  InferenceService and its part (Seldon sends ce-inferenceservicename too)

It sends the response only for an answer with status 200: a request without a response is one
the model server did not answer. Events may also come in structured mode (one JSON object with
`specversion`, `id`, `type`, `source`, `time`, the extensions and `data`, content type
`application/cloudevents+json`, or a JSON array of them, `application/cloudevents-batch+json`),
which is also the format "cloudevents" of `[serving]`: stored events, one structured event per
line (JSON lines).

`binary_event` and `structured_event` make an `Event` (a `CloudEventError` naming the field
when they cannot); the body is read into rows or outputs there (`inference_payloads`), so a
malformed event is refused when it arrives, not when its partner does. `Pairing` holds the
events waiting for their partner, in arrival order, and `add` hands back the records a pair
completes; `pair(events)` is the same thing as a pure function: (records, unpaired events).

A record per instance: request_id = ce-id, row = the instance's index, time = the request's
ce-time (else the response's, else when it was received), route "champion", the inputs, the
prediction and probabilities, `nonfinite`, and the example id: the input named by
`columns["id"]` (`[system] id`) when the instance holds it. No `model_inputs` (the logger sees
what the server received, not what its feature code built) and no `latency_seconds` (ce-time
is when the logger sent an event, not when the model answered). The model version: the first
of (the V2 response's `model_version`, "<inferenceservicename>/<endpoint>", the endpoint, the
InferenceService name, ce-source) that `[serving] versions` maps, else `[serving]
model_version`; neither is an error naming both settings.

Stored events (format "cloudevents"): `read_events(data, name, settings)` gives the events of
complete JSON lines, `read_cloudevents` (the `Reader`, also named `read`) the records of the
pairs among them, and an `Unreadable` (`keel.log.foreign._common`) naming the line and the
field of each event it cannot read. The importer, taking files a chunk at a time, uses
`read_paired`: the events left unpaired by earlier chunks (of any file, kept in its journal as
`event_line` texts) are put in front of the chunk's, and those still unpaired come back to be
kept for the next chunk, bounded as `keel ingest` bounds them: an event older than
`PAIR_SECONDS` before the newest event seen (the log's own clock: a file taken long after it
was written pairs all the same), or the oldest beyond `MAX_HELD_BYTES`, lets go: a request as
its rows without a prediction (`unanswered`), a response as an `Unreadable` naming its ce-id.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable
from keel.log.foreign.inference_payloads import (
    Output,
    PayloadError,
    clean_inputs,
    request_rows,
    response_outputs,
)
from keel.log.record import FORMAT

REQUEST_TYPES = ("org.kubeflow.serving.inference.request", "io.seldon.serving.inference.request")
RESPONSE_TYPES = (
    "org.kubeflow.serving.inference.response",
    "io.seldon.serving.inference.response",
)
EXTENSIONS = ("inferenceservicename", "namespace", "component", "endpoint")
PAIR_SECONDS = 30.0  # how long a stored event waits for its partner (as keel ingest's default)
MAX_HELD_BYTES = 64 * 1024 * 1024  # bodies of stored events kept waiting, at most
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class CloudEventError(ValueError):
    """An event Keel cannot take; `field` names the header, attribute or body field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.field = where
        self.message = message


@dataclass(frozen=True)
class Event:
    """One request or response event, its body already read."""

    id: str
    kind: str  # "request" or "response"
    type: str
    source: str
    time: str | None  # ce-time, ISO-8601, when given
    received: float  # when Keel received it (epoch seconds)
    extensions: dict[str, str]
    data: Any  # the decoded JSON body
    rows: list[dict[str, Any]] = field(default_factory=list)  # a request's instances
    outputs: list[Output] = field(default_factory=list)  # a response's answers
    size: int = 0  # the body's bytes: what holding it costs


def _kind(ce_type: str, where: str) -> str:
    if ce_type in REQUEST_TYPES or ce_type.endswith(".inference.request"):
        return "request"
    if ce_type in RESPONSE_TYPES or ce_type.endswith(".inference.response"):
        return "response"
    raise CloudEventError(
        where, f"{ce_type!r} is not an inference request or response ({REQUEST_TYPES[0]}, ...)"
    )


def _time(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise CloudEventError(where, f"{value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _build(
    attributes: Mapping[str, Any],
    data: Any,
    size: int,
    received: float,
    settings: ForeignSettings,
    prefix: str,
) -> Event:
    """An Event from its attributes (`prefix` "ce-" for headers, "" for structured keys)."""
    for key in ("specversion", "id", "type", "source"):
        value = attributes.get(key)
        if not isinstance(value, str) or not value:
            raise CloudEventError(f"{prefix}{key}", "missing (every CloudEvent has it)")
    if not attributes["specversion"].startswith("1."):
        raise CloudEventError(
            f"{prefix}specversion", f"{attributes['specversion']!r}: Keel reads CloudEvents 1.0"
        )
    kind = _kind(attributes["type"], f"{prefix}type")
    names = settings.columns.get("inputs")
    try:
        if kind == "request":
            rows = request_rows(data, names if isinstance(names, list) else None)
            outputs: list[Output] = []
        else:
            rows, outputs = [], response_outputs(data)
    except PayloadError as exc:
        raise CloudEventError(exc.field, exc.message) from None
    return Event(
        id=attributes["id"],
        kind=kind,
        type=attributes["type"],
        source=attributes["source"],
        time=_time(attributes.get("time"), f"{prefix}time"),
        received=received,
        extensions={k: str(attributes[k]) for k in EXTENSIONS if attributes.get(k) is not None},
        data=data,
        rows=rows,
        outputs=outputs,
        size=size,
    )


def _json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CloudEventError(where, f"not JSON ({exc})") from None


def binary_event(
    headers: Mapping[str, str], body: bytes, received: float, settings: ForeignSettings
) -> Event:
    """The event of a binary-mode request: `headers` lower-cased, `body` its data (JSON)."""
    kind = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind and not (kind == "application/json" or kind.endswith("+json") or kind == "text/json"):
        raise CloudEventError("content-type", f"{kind!r}: Keel reads inference bodies in JSON")
    attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
    return _build(attributes, _json(body, "data"), len(body), received, settings, "ce-")


def structured_event(obj: Any, received: float, settings: ForeignSettings, size: int = 0) -> Event:
    """The event of a structured-mode CloudEvent (a JSON object)."""
    if not isinstance(obj, dict):
        raise CloudEventError("event", f"expected a JSON object, got {type(obj).__name__}")
    if "data_base64" in obj:
        try:
            raw = base64.b64decode(obj["data_base64"], validate=True)
        except (ValueError, TypeError):
            raise CloudEventError("data_base64", "not base64") from None
        data = _json(raw, "data_base64")
    elif "data" in obj:
        data = obj["data"]
        if isinstance(data, str):  # a JSON body sent as a string
            data = _json(data.encode(), "data")
    else:
        raise CloudEventError("data", "missing: the event holds no inference body")
    return _build(obj, data, size or len(json.dumps(data)), received, settings, "")


def event_line(event: Event) -> bytes:
    """`event` as one structured CloudEvent line (what `read_events` reads back)."""
    obj: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "type": event.type,
        "source": event.source,
        **event.extensions,
        "data": event.data,
        "keelreceived": event.received,
    }
    if event.time:
        obj["time"] = event.time
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _version(request: Event, response: Event, settings: ForeignSettings) -> int:
    ext = {**response.extensions, **request.extensions}
    service, endpoint = ext.get("inferenceservicename"), ext.get("endpoint")
    body_version = response.data.get("model_version") if isinstance(response.data, dict) else None
    keys = [
        str(body_version) if body_version is not None else None,
        f"{service}/{endpoint}" if service and endpoint else None,
        endpoint,
        service,
        request.source,
    ]
    for key in keys:
        if key is not None and key in settings.versions:
            return settings.versions[key]
    if settings.model_version is not None:
        return settings.model_version
    tried = ", ".join(repr(k) for k in keys if k)
    raise CloudEventError(
        "ce-inferenceservicename",
        f"no registered version for this event: [serving] versions maps none of {tried}, and "
        "[serving] model_version is not set",
    )


def records(request: Event, response: Event, settings: ForeignSettings) -> list[dict[str, Any]]:
    """The Keel records of one request and its response (one per instance)."""
    if len(request.rows) != len(response.outputs):
        raise CloudEventError(
            "data",
            f"the response of {request.id!r} answers {len(response.outputs)} rows, its request "
            f"holds {len(request.rows)}",
        )
    version = _version(request, response, settings)
    stamp = (
        request.time or response.time or datetime.fromtimestamp(request.received, UTC).isoformat()
    )
    id_input = settings.columns.get("id")
    out = []
    for i, (row, answer) in enumerate(zip(request.rows, response.outputs, strict=True)):
        record = _row_record(request.id, i, row, stamp, version, id_input)
        record["prediction"] = answer.prediction
        record["probabilities"] = answer.probabilities
        record["nonfinite"] += answer.nonfinite
        out.append(record)
    return out


def _row_record(
    request_id: str, i: int, row: Any, stamp: str, version: int, id_input: str | None
) -> dict[str, Any]:
    """The Keel record of one request row, before its answer: its cleaned inputs."""
    inputs, bad = clean_inputs(row)
    example = inputs.get(id_input) if id_input else None
    return {
        "format": FORMAT,
        "request_id": request_id,
        "row": i,
        "example_id": None if example is None else str(example),
        "time": stamp,
        "model_version": version,
        "route": "champion",
        "inputs": inputs,
        "prediction": None,
        "nonfinite": bad,
    }


def unanswered(request: Event, settings: ForeignSettings, why: str) -> list[dict[str, Any]]:
    """Records of a request whose response never came: its inputs, no prediction, `error`."""
    empty = Event(request.id, "response", "", "", None, request.received, {}, None)
    try:
        version = _version(request, empty, settings)
    except CloudEventError:
        return []
    stamp = request.time or datetime.fromtimestamp(request.received, UTC).isoformat()
    id_input = settings.columns.get("id")
    out = []
    for i, row in enumerate(request.rows):
        record = _row_record(request.id, i, row, stamp, version, id_input)
        record["error"] = why
        out.append(record)
    return out


class Pairing:
    """Events waiting for their partner, by ce-id, oldest first; `held_bytes` their bodies."""

    def __init__(self, settings: ForeignSettings) -> None:
        self.settings = settings
        self._held: dict[str, Event] = {}
        self.held_bytes = 0
        self.duplicates = 0  # events whose ce-id and type were held already (kept the first)

    def __len__(self) -> int:
        return len(self._held)

    def held(self) -> list[Event]:
        return list(self._held.values())

    def add(self, event: Event) -> list[dict[str, Any]] | None:
        """The records `event` completes with its held partner (removed), or None: it is held
        (its partner not seen yet) or a duplicate of a held event (dropped, counted).
        Raises CloudEventError when the pair does not fit (its partner is dropped too)."""
        other = self._held.get(event.id)
        if other is None:
            self._held[event.id] = event
            self.held_bytes += event.size
            return None
        if other.kind == event.kind:
            self.duplicates += 1
            return None
        del self._held[event.id]
        self.held_bytes -= other.size
        request, response = (other, event) if event.kind == "response" else (event, other)
        return records(request, response, self.settings)

    def expire(self, before: float, max_bytes: int | None = None) -> list[Event]:
        """Remove and return the events received before `before`, and the oldest beyond
        `max_bytes` of held bodies."""
        gone = []
        while self._held:
            oldest = next(iter(self._held.values()))
            over = max_bytes is not None and self.held_bytes > max_bytes
            if oldest.received >= before and not over:
                break
            del self._held[oldest.id]
            self.held_bytes -= oldest.size
            gone.append(oldest)
        return gone


def pair(
    events: Iterable[Event], settings: ForeignSettings
) -> tuple[list[dict[str, Any]], list[Event]]:
    """(the records of every request and response among `events` that pair up, the events
    left without a partner, in arrival order). Raises CloudEventError for a pair that does
    not fit."""
    pairing = Pairing(settings)
    out: list[dict[str, Any]] = []
    for event in events:
        made = pairing.add(event)
        if made:
            out += made
    return out, pairing.held()


def read_events(data: bytes, name: str, settings: ForeignSettings) -> list[Event]:
    """The events of JSON lines of structured CloudEvents (blank lines skipped). Raises
    KeelError naming the file, the line and the field of an event Keel cannot read."""
    out = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            received = obj.get("keelreceived") if isinstance(obj, dict) else None
            if not isinstance(received, int | float):
                if isinstance(obj, dict) and not obj.get("time"):
                    raise CloudEventError("time", "missing: a stored event needs its time")
                received = 0.0
            out.append(structured_event(obj, float(received), settings, size=len(line)))
        except ValueError as exc:  # CloudEventError and JSON errors
            raise KeelError(f"{name}, line {number}: {exc}") from None
    return out


def _stored(line: bytes, settings: ForeignSettings) -> Event:
    """The event of one stored line; `received` is when keel ingest received it, else its
    time (so an event's age is told by the log's own clock). Raises ValueError."""
    obj = json.loads(line)
    received = obj.get("keelreceived") if isinstance(obj, dict) else None
    if not isinstance(received, int | float) or isinstance(received, bool):
        stamp = obj.get("time") if isinstance(obj, dict) else None
        if not stamp:
            raise CloudEventError("time", "missing: a stored event needs its time")
        moment = _time(stamp, "time")
        received = datetime.fromisoformat(moment).timestamp() if moment else 0.0
    return structured_event(obj, float(received), settings, size=len(line))


def read_paired(
    data: bytes, name: str, settings: ForeignSettings, held: list[str]
) -> tuple[list[dict[str, Any] | Unreadable], list[str]]:
    """(the records of the pairs among the `held` events and those of `data`, with an
    `Unreadable` for each line of `data` that is no event Keel can read or whose pair does
    not fit; the events still unpaired as `event_line` texts, for the next chunk), expiring
    as the module docstring says. `data` holds complete JSON lines; `held` what an earlier
    call handed back. Raises KeelError, naming the file and line, for a pair no registered
    version served (as every reader does: nothing of it is taken)."""
    pairing = Pairing(settings)
    newest = 0.0
    for text in held:
        event = _stored(text.encode(), settings)
        pairing.add(event)
        newest = max(newest, event.received)
    out: list[dict[str, Any] | Unreadable] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            event = _stored(line, settings)
            made = pairing.add(event)
        except CloudEventError as exc:
            if exc.field == "ce-inferenceservicename":  # no version: never made up
                raise KeelError(f"{name}, line {number}: {exc}") from None
            out.append(Unreadable(number, f"not a CloudEvent Keel reads: {exc}"))
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            out.append(Unreadable(number, f"not JSON ({exc})"))
            continue
        newest = max(newest, event.received)
        out += made or []
    for event in pairing.expire(newest - PAIR_SECONDS, MAX_HELD_BYTES):
        if event.kind == "request":
            out += unanswered(
                event,
                settings,
                f"no response event within {PAIR_SECONDS:g} s (KServe sends none for a failed "
                "request)",
            )
        else:
            out.append(
                Unreadable(
                    0,
                    f"response event {event.id!r} without its request within {PAIR_SECONDS:g} s",
                )
            )
    return out, [event_line(e).decode().rstrip("\n") for e in pairing.held()]


def read_cloudevents(
    data: bytes, name: str, settings: ForeignSettings
) -> Iterator[dict | Unreadable]:
    """The `Reader` of format "cloudevents": the records of the pairs in `data`, an
    `Unreadable` naming the line and field of each line it cannot take (an event whose partner
    is not in `data` is left out: the importer keeps it for the next chunk, `read_paired`)."""
    made, _ = read_paired(data, name, settings, [])
    yield from made


read = read_cloudevents  # the name `keel.log.foreign.importer` looks a format's reader up by
