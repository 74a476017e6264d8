"""One prediction request from body to answer: parse, validate, route, predict, log.

`Predictor.answer(body, headers)` is the whole of POST /predict as plain data in and out (the
HTTP status and the JSON payload), so that the server can answer it straight from its ASGI
entry (`keel.serve.direct`) without the framework's per-request machinery, and tests can call
it directly. The rows of one request are parsed and validated as JSON objects; everything
after that runs column by column for a whole micro-batch in the batch's worker thread
(`Predictor.call`, `keel.serve.columns`): one typed frame, one model call (one pipeline pass
where the version's probabilities give its labels), the log's raw and model inputs built from
the same typed columns. The log records of a request are handed to the log in one call and
awaited on the event loop (`PredictionLog.append_async`): with "ack", the answer leaves once
they are on disk, one fsync for every request of the group.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from keel.data.schema import Schema
from keel.log.record import FORMAT as RECORD_FORMAT
from keel.log.writer import PredictionLog
from keel.serve.batching import Batcher
from keel.serve.columns import (
    array_rows,
    column_arrays,
    frame_arrays,
    log_rows,
    model_frame,
    nonfinite,
    plain_values,
    typed_columns,
)
from keel.serve.models import ROUTE_CHAMPION, Loaded, ModelHolder, Serving
from keel.serve.rejected import logged_problems, rejected_records
from keel.serve.requests import RequestError, parse_body
from keel.serve.validation import RowCheck, RowValidator, refuse_if_any

Answer = tuple[int, dict[str, Any]]  # HTTP status, JSON payload


@dataclass(frozen=True)
class ServeSettings:
    """What a server enforces: `[serve]` in keel.toml, and the `[system] id` column."""

    max_batch_rows: int = 1_000
    max_body_bytes: int = 1_048_576
    on_anomaly: Literal["reject", "flag"] = "reject"
    id_column: str | None = None
    pii_key: bytes | None = field(default=None, repr=False)  # for pii = "hash" (else KEEL_PII_KEY)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    # the time each log record carries (a simulation of past days sets its own)


def _refused(status: int, message: str, fields: list[str] | None = None) -> Answer:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = fields
    return status, body


class Predictor:
    """POST /predict of one app: `answer` a request body, `call` a micro-batch's model.

    `metrics` is the app's metrics (`keel.serve.app`'s requests, latency and validation
    counters); `batcher` shares model calls between concurrent requests (by default one
    capping a call at twice `max_batch_rows` rows).
    """

    def __init__(
        self,
        schema: Schema,
        holder: ModelHolder,
        log: PredictionLog | None,
        settings: ServeSettings,
        metrics: Any,
        batcher: Batcher | None = None,
    ) -> None:
        self.schema = schema
        self.holder = holder
        self.log = log
        self.settings = settings
        self.metrics = metrics
        self.validator = RowValidator(schema, environment="serving")
        self.batcher = batcher or Batcher(
            max_rows=2 * settings.max_batch_rows, call=self.call, join=_joined
        )

    def call(self, loaded: Loaded, joined: tuple[list, list]) -> tuple[list, list, list, list]:
        """In the batch's worker thread, for all its rows at once: the model's answers and
        what the log records need (raw and model inputs, personal data handled, and the
        non-finite values), built column by column (`keel.serve.columns`)."""
        rows, checks = joined
        columns = typed_columns(self.schema, rows, checks)
        arrays = column_arrays(self.schema, columns)
        model = loaded.model.unwrap_python_model()
        # without feature code the model takes raw columns: build just those, in its order
        frame = model_frame(arrays, len(rows), model.inputs if model.build is None else None)
        inputs, labels, proba = model.predict_arrays(frame)
        outcomes = _outcomes(labels, proba, model.classes)
        if self.log is None:
            nothing = [None] * len(rows)
            return outcomes, nothing, nothing, nothing  # no log
        raw = log_rows(self.schema, columns, arrays, self.settings.pii_key)
        found: list[list[str]] = [[] for _ in rows]
        if model.build is None:  # the model inputs are raw columns: their records, cut
            names = [str(c) for c in model.inputs]
            built = [{n: r[n] for n in names if n in r} for r in raw]
            nonfinite({n: arrays[n] for n in names if n in arrays}, "model_inputs", found)
        else:
            built_arrays = frame_arrays(inputs)
            built = array_rows(built_arrays, len(rows), self.schema, self.settings.pii_key)
            nonfinite(built_arrays, "model_inputs", found)
        _nonfinite_outputs(labels, proba, model.classes, found)
        return outcomes, raw, built, found

    async def answer(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """The status and JSON payload answering a POST /predict with `body` and `headers`
        (`content-length`, `x-request-id`; lower-case names)."""
        started = time.perf_counter()
        serving = self.holder.serving  # one snapshot for the whole request: no half swap
        version = str(serving.champion.version)
        declared = headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.settings.max_body_bytes
        ):
            self.metrics.requests.labels("champion", version, "413").inc()
            return _refused(413, f"the body is over {self.settings.max_body_bytes:,} bytes")
        try:
            rows = parse_body(
                body, max_bytes=self.settings.max_body_bytes, max_rows=self.settings.max_batch_rows
            )
        except RequestError as exc:
            self.metrics.requests.labels("champion", version, str(exc.status)).inc()
            return _refused(exc.status, exc.message, [exc.field] if exc.field else None)
        checks = self.validator.check(rows)
        for check in checks:
            for problem in check.problems:
                self.metrics.invalid.labels(problem.kind).inc()
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        refusal = refuse_if_any(checks) if self.settings.on_anomaly == "reject" else None
        if refusal is not None:  # every row refused, each logged with its problems
            self.metrics.requests.labels("champion", version, "422").inc()
            if self.log is not None:
                refused = rejected_records(
                    rows,
                    checks,
                    self.schema,
                    key=self.settings.pii_key,
                    id_column=self.settings.id_column,
                    request_id=request_id,
                    version=serving.champion.version,
                    time=self.settings.clock().isoformat(),
                    seconds=time.perf_counter() - started,
                )
                await self.log.append_async(refused)
            status, message, where = refusal
            return _refused(status, message, [where] if where else None)
        groups = _routed(serving, rows, self.settings.id_column, request_id)
        results = await asyncio.gather(
            *(
                self.batcher.predict(
                    loaded,
                    (
                        [rows[p] for p in positions],
                        [RowCheck(i, checks[p].problems) for i, p in enumerate(positions)],
                    ),
                    len(positions),
                )
                for (loaded, _), positions in groups.items()
            ),
            return_exceptions=True,
        )
        answers: list[dict[str, Any]] = [{} for _ in rows]
        records: list[dict[str, Any]] = []
        for ((loaded, route), positions), result in zip(groups.items(), results, strict=True):
            if isinstance(result, BaseException):  # the model cannot predict these valid rows
                if not isinstance(result, Exception):
                    raise result
                self.metrics.requests.labels(route, str(loaded.version), "422").inc()
                text = str(result).splitlines()[0] if str(result) else ""
                if self.log is not None:  # the canary's error rate counts these rows
                    failed = _failure_records(
                        rows,
                        positions,
                        self.settings,
                        request_id,
                        loaded.version,
                        route,
                        f"{type(result).__name__}: {text}",
                        time.perf_counter() - started,
                    )
                    await self.log.append_async(failed)
                return _refused(
                    422,
                    f"model version {loaded.version} cannot predict these rows: "
                    f"{type(result).__name__}: {text}",
                )
            outcomes, raw, built, found = result
            for position, outcome in zip(positions, outcomes, strict=True):
                answers[position] = _answer(outcome, loaded.version, route)
            if self.log is not None:
                records += _log_records(
                    [rows[p] for p in positions],
                    [answers[p] for p in positions],
                    raw,
                    built,
                    found,
                    [logged_problems(checks[p], self.schema) for p in positions],
                    self.settings,
                    request_id=request_id,
                    version=loaded.version,
                    route=route,
                    positions=positions,
                    seconds=time.perf_counter() - started,
                )
        if records:
            await self.log.append_async(records)  # "ack": returns once on disk
        seconds = time.perf_counter() - started
        for loaded, route in groups:
            self.metrics.latency.labels(route, str(loaded.version)).observe(seconds)
            self.metrics.requests.labels(route, str(loaded.version), "200").inc()
        versions = {answer["model_version"] for answer in answers}
        return 200, (
            {
                "request_id": request_id,
                "model_version": versions.pop() if len(versions) == 1 else None,
                "predictions": answers,
            }
        )


def _routed(
    serving: Serving, rows: list[dict[str, Any]], id_column: str | None, request_id: str
) -> dict[tuple[Loaded, str], list[int]]:
    """The rows' positions grouped by the model and route serving them: sticky by example id
    (a row without one is routed by its request id and position)."""
    groups: dict[tuple[Loaded, str], list[int]] = {}
    if serving.candidate is None or serving.share <= 0:
        return {(serving.champion, ROUTE_CHAMPION): list(range(len(rows)))}
    for i, row in enumerate(rows):
        example = row.get(id_column) if id_column else None
        key = str(example) if example is not None else f"{request_id}:{i}"
        groups.setdefault(serving.route(key), []).append(i)
    return groups


def _outcomes(labels: Any, proba: Any, classes: list[Any] | None) -> list[dict[str, Any]]:
    """One {"prediction", "probabilities"?} per row of a model's answer (probabilities by
    class, in the model's class order)."""
    predictions = plain_values(labels)
    if proba is None or classes is None:
        return [{"prediction": p} for p in predictions]
    names = [str(c) for c in classes]
    values = plain_values(proba.reshape(-1))
    width = len(names)
    return [
        {
            "prediction": p,
            "probabilities": dict(zip(names, values[i * width : (i + 1) * width], strict=True)),
        }
        for i, p in enumerate(predictions)
    ]


def _answer(outcome: dict[str, Any], version: int, route: str) -> dict[str, Any]:
    """The answer for one row: prediction, model version, route and probabilities (if any)."""
    one: dict[str, Any] = {
        "prediction": outcome["prediction"],
        "model_version": version,
        "route": route,
    }
    if "probabilities" in outcome:
        one["probabilities"] = outcome["probabilities"]
    return one


def _joined(payloads: list[tuple[list[dict[str, Any]], list[RowCheck]]]) -> tuple[list, list]:
    """The rows and checks of several requests as one request (checks re-indexed)."""
    if len(payloads) == 1:
        return payloads[0]
    rows: list[dict[str, Any]] = []
    checks: list[RowCheck] = []
    for part_rows, part_checks in payloads:
        checks += [RowCheck(len(rows) + c.index, c.problems) for c in part_checks]
        rows += part_rows
    return rows, checks


def _nonfinite_outputs(
    labels: Any, proba: Any, classes: list[Any] | None, found: list[list[str]]
) -> None:
    """Add to `found` the outputs holding NaN or an infinity, as "outputs.<column>:nan|inf"
    (JSON in the log cannot hold the values themselves)."""
    nonfinite({"prediction": labels}, "outputs", found)
    if proba is not None and classes is not None and not np.isfinite(proba).all():
        nonfinite({f"proba_{c}": proba[:, i] for i, c in enumerate(classes)}, "outputs", found)


def _failure_records(
    rows: list[dict[str, Any]],
    positions: list[int],
    settings: ServeSettings,
    request_id: str,
    version: int,
    route: str,
    error: str,
    seconds: float,
) -> list[dict[str, Any]]:
    """One record per row the model failed on: no inputs (none were handled), the error."""
    now = settings.clock().isoformat()
    out = []
    for p in positions:
        example = rows[p].get(settings.id_column) if settings.id_column else None
        out.append(
            {
                "format": RECORD_FORMAT,
                "request_id": request_id,
                "row": p,
                "example_id": None if example is None else str(example),
                "time": now,
                "model_version": version,
                "route": route,
                "prediction": None,
                "error": error,
                "latency_seconds": seconds,
            }
        )
    return out


def _log_records(
    rows: list[dict[str, Any]],
    answers: list[dict[str, Any]],
    raw: list[dict[str, Any]],
    built: list[dict[str, Any]],
    nonfinite: list[list[str]],
    anomalies: list[list[str]],
    settings: ServeSettings,
    *,
    request_id: str,
    version: int,
    route: str,
    positions: list[int],
    seconds: float,
) -> list[dict[str, Any]]:
    """One prediction-log record per served row (`raw` and `built`: the row's inputs and
    model inputs, personal data handled; `anomalies`: its problems as the log keeps them)."""
    now = settings.clock().isoformat()
    records = []
    for i, answer in enumerate(answers):
        example = rows[i].get(settings.id_column) if settings.id_column else None
        records.append(
            {
                "format": RECORD_FORMAT,
                "request_id": request_id,
                "row": positions[i],
                "example_id": None if example is None else str(example),
                "time": now,
                "model_version": version,
                "route": route,
                "inputs": raw[i],
                "model_inputs": built[i],
                "prediction": answer["prediction"],
                "probabilities": answer.get("probabilities"),
                "latency_seconds": seconds,
                "anomalies": anomalies[i],
                "nonfinite": nonfinite[i],
            }
        )
    return records
