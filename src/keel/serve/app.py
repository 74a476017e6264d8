"""The HTTP app of `keel serve`: validated rows in, predictions out, every served row logged.

    POST /predict   one row (a JSON object) or a batch ({"rows": [...]}); answers one prediction
                    per row, the model version that made them and a request id. A malformed or
                    oversized body, or (with on_anomaly = "reject") an invalid row, is a 4xx
                    naming the field and what was expected; never a 5xx. The rows of a request
                    refused for an invalid row are logged too (`keel.serve.rejected`).
    GET /health     the process is up
    GET /ready      the champion is loaded and warm (503 until then)
    GET /version    the versions serving
    GET /metrics    Prometheus text: requests, latency and errors by model version and route,
                    validation failures, the prediction log's queue depth, fsyncs and drops

Each served row becomes one record of the prediction log, written before the response is sent
when the log's durability is "ack": request id, example id, time, model version, route, the raw
inputs (personal data as the schema's `pii` handling says: dropped, hashed or redacted), the model
inputs the feature code built (handled alike), the prediction, class probabilities, latency and
the row's anomalies (personal values never shown in them). Each row of a request refused for
an invalid row becomes a record too, with route "rejected", no prediction and its anomalies, so
monitoring counts the rows the server turned away (`keel.serve.rejected`).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool

from keel.data.pii import apply_handling
from keel.data.schema import Schema
from keel.log.record import FORMAT as RECORD_FORMAT
from keel.log.writer import PredictionLog
from keel.serve.admin import Admin, add_admin_routes
from keel.serve.batching import Batcher, predict_rows
from keel.serve.dashboard import add_dashboard_route
from keel.serve.models import ROUTE_CHAMPION, Loaded, ModelHolder, Serving
from keel.serve.rejected import logged_problems, rejected_records
from keel.serve.requests import RequestError, parse_body, request_json_schema
from keel.serve.validation import RowCheck, RowValidator, refuse_if_any, to_frame


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


class _Metrics:
    """The server's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, log: PredictionLog | None, uploader: Any = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "keel_requests",
            "Requests answered",
            ["route", "model_version", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "keel_request_seconds",
            "Time to answer /predict",
            ["route", "model_version"],
            registry=self.registry,
        )
        self.invalid = Counter(
            "keel_validation_failures",
            "Rows with a schema problem",
            ["kind"],
            registry=self.registry,
        )
        self.fsync = Histogram(
            "keel_prediction_log_fsync_seconds",
            "Prediction log fsync latency",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
        )
        if log is not None:
            Gauge(
                "keel_prediction_log_queue_depth",
                "Records waiting for the log writer",
                registry=self.registry,
            ).set_function(log.queue_depth)
            Gauge(
                "keel_prediction_log_dropped",
                "Records dropped by the async log (queue full)",
                registry=self.registry,
            ).set_function(lambda: log.dropped)
            Gauge(
                "keel_prediction_log_records",
                "Records written to the prediction log",
                registry=self.registry,
            ).set_function(lambda: log.records_written)
            Gauge(
                "keel_prediction_log_damaged_records",
                "Records lost in damaged log ranges met recovering segments at start "
                "(bytes kept in segments/quarantine/)",
                registry=self.registry,
            ).set_function(lambda: log.damaged_records)
        if uploader is not None:  # the log in object storage (`keel.log.remote.Uploader`)
            Gauge(
                "keel_prediction_log_uploaded_segments",
                "Sealed segments uploaded to the log's object storage",
                registry=self.registry,
            ).set_function(lambda: uploader.uploaded)
            Gauge(
                "keel_prediction_log_upload_pending",
                "Sealed segments waiting for their upload",
                registry=self.registry,
            ).set_function(uploader.pending)
            Gauge(
                "keel_prediction_log_upload_failures",
                "Uploads that failed and were retried",
                registry=self.registry,
            ).set_function(lambda: uploader.failures)


def _handled(frame: pd.DataFrame, schema: Schema, key: bytes | None) -> pd.DataFrame:
    """`frame` with each personal-data column as the schema's `pii` handling says."""
    if not any(
        name in frame.columns and feature.pii != "none" for name, feature in schema.features.items()
    ):
        return frame  # nothing to handle: no copy
    out = frame.copy()
    for name, feature in schema.features.items():
        if name not in out.columns or feature.pii == "none":
            continue
        handled = apply_handling(out[name], feature.pii, kind=feature.pii_kind, key=key)
        if handled is None:
            out = out.drop(columns=[name])
        else:
            out[name] = handled
    return out


def _plain(value: Any) -> Any:
    """A value the prediction log and JSON can hold (NumPy scalars, timestamps, NaN as None)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One {column: plain value} per row (column by column: a batch's rows at once)."""
    columns = [str(c) for c in frame.columns]
    values = [[_plain(v) for v in frame.iloc[:, i].tolist()] for i in range(len(columns))]
    return (
        [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
        if values
        else [{} for _ in range(len(frame))]
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


def _outcomes(output: pd.DataFrame) -> list[dict[str, Any]]:
    """One {"prediction", "probabilities"?} per row of a Keel model's output frame."""
    proba = [c for c in output.columns if str(c).startswith("proba_")]
    predictions = [_plain(v) for v in output["prediction"].tolist()]
    if not proba:
        return [{"prediction": p} for p in predictions]
    labels = [str(c)[len("proba_") :] for c in proba]
    columns = [[_plain(v) for v in output[c].tolist()] for c in proba]
    return [
        {"prediction": p, "probabilities": dict(zip(labels, values, strict=True))}
        for p, *values in zip(predictions, *columns, strict=True)
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


def _error(status: int, message: str, fields: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


def create_app(
    schema: Schema,
    holder: ModelHolder,
    log: PredictionLog | None,
    settings: ServeSettings | None = None,
    admin: Admin | None = None,
    batcher: Batcher | None = None,
    dashboard: Path | None = None,
    uploader: Any = None,
) -> FastAPI:
    """The app serving `holder`'s models for rows of `schema`, logging to `log` (None: off);
    `uploader` (a `keel.log.remote.Uploader`) when the log lives in object storage.

    Concurrent requests for the same model share model calls through `batcher` (by default
    one capping a call at twice `max_batch_rows` rows)."""
    settings = settings or ServeSettings()

    def call(loaded: Loaded, joined: tuple[list, list]) -> tuple[list, list, list]:
        """In the batch's worker thread: the typed frame, the model's answers and what the
        log records need (raw and model inputs, personal data handled), for all its rows."""
        frame = to_frame(schema, *joined)
        inputs, output = predict_rows(loaded, frame)
        if log is None:
            nothing = [None] * len(frame)
            return _outcomes(output), nothing, nothing, nothing  # no log
        raw = _records(_handled(frame, schema, settings.pii_key))
        built = _records(_handled(inputs.reset_index(drop=True), schema, settings.pii_key))
        return _outcomes(output), raw, built, _nonfinite(inputs, output)

    batcher = batcher or Batcher(max_rows=2 * settings.max_batch_rows, call=call, join=_joined)
    validator = RowValidator(schema, environment="serving")
    metrics = _Metrics(log, uploader)
    Gauge(
        "keel_model_calls",
        "Model calls made (each predicts a micro-batch)",
        registry=metrics.registry,
    ).set_function(lambda: batcher.calls)
    Gauge(
        "keel_model_call_rows", "Rows predicted by those model calls", registry=metrics.registry
    ).set_function(lambda: batcher.rows)
    Gauge(
        "keel_model_load_failures",
        "Registry polls that could not load or warm a version the registry names",
        registry=metrics.registry,
    ).set_function(lambda: holder.failures)
    Gauge(
        "keel_registry_out_of_step",
        "1 while a version the registry names cannot be served here (the loaded ones serve)",
        registry=metrics.registry,
    ).set_function(lambda: 0 if holder.problem is None else 1)
    if log is not None and log.on_fsync is None:
        log.on_fsync = metrics.fsync.observe
    app = FastAPI(
        title="keel serve",
        description="Predictions of the registry's champion for rows of the Keel schema.",
    )
    request_schema = request_json_schema(schema, max_rows=settings.max_batch_rows)

    def following() -> dict[str, Any]:
        """What the registry names and this server could not load (empty when in step)."""
        problem = holder.problem
        if problem is None:
            return {}
        return {
            "registry_problem": {
                "alias": problem.alias,
                "version": problem.version,
                "error": problem.message,
                "since": datetime.fromtimestamp(problem.since, UTC).isoformat(),
                "tries": problem.tries,
            }
        }

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid(), **following()}  # the worker answering

    @app.get("/ready")
    def ready() -> JSONResponse:
        try:
            serving = holder.serving
        except Exception:  # not loaded yet
            return JSONResponse({"ready": False}, status_code=503)
        # still ready with a version the registry names unloadable: the loaded one serves
        return JSONResponse({"ready": True, "champion": serving.champion.version, **following()})

    @app.get("/version")
    def version() -> dict[str, Any]:
        from keel import __version__

        serving = holder.serving
        candidate = serving.candidate.version if serving.candidate else None
        return {"champion": serving.champion.version, "candidate": candidate, "keel": __version__}

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(
            generate_latest(metrics.registry).decode(), media_type="text/plain; version=0.0.4"
        )

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema}},
            }
        },
    )
    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        serving = holder.serving  # one snapshot for the whole request: no half swap
        version = str(serving.champion.version)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            metrics.requests.labels("champion", version, "413").inc()
            return _error(413, f"the body is over {settings.max_body_bytes:,} bytes")
        body = await request.body()
        try:
            rows = parse_body(
                body, max_bytes=settings.max_body_bytes, max_rows=settings.max_batch_rows
            )
        except RequestError as exc:
            metrics.requests.labels("champion", version, str(exc.status)).inc()
            return _error(exc.status, exc.message, [exc.field] if exc.field else None)
        checks = validator.check(rows)
        for check in checks:
            for problem in check.problems:
                metrics.invalid.labels(problem.kind).inc()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        refusal = refuse_if_any(checks) if settings.on_anomaly == "reject" else None
        if refusal is not None:  # every row refused, each logged with its problems
            metrics.requests.labels("champion", version, "422").inc()
            if log is not None:
                refused = rejected_records(
                    rows,
                    checks,
                    schema,
                    key=settings.pii_key,
                    id_column=settings.id_column,
                    request_id=request_id,
                    version=serving.champion.version,
                    time=settings.clock().isoformat(),
                    seconds=time.perf_counter() - started,
                )
                await run_in_threadpool(log.append, refused)
            status, message, where = refusal
            return _error(status, message, [where] if where else None)
        groups = _routed(serving, rows, settings.id_column, request_id)
        results = await asyncio.gather(
            *(
                batcher.predict(
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
                metrics.requests.labels(route, str(loaded.version), "422").inc()
                text = str(result).splitlines()[0] if str(result) else ""
                if log is not None:  # the canary's error rate counts these rows
                    failed = _failure_records(
                        rows,
                        positions,
                        settings,
                        request_id,
                        loaded.version,
                        route,
                        f"{type(result).__name__}: {text}",
                        time.perf_counter() - started,
                    )
                    await run_in_threadpool(log.append, failed)
                return _error(
                    422,
                    f"model version {loaded.version} cannot predict these rows: "
                    f"{type(result).__name__}: {text}",
                )
            outcomes, raw, built, nonfinite = result
            for position, outcome in zip(positions, outcomes, strict=True):
                answers[position] = _answer(outcome, loaded.version, route)
            if log is not None:
                records += _log_records(
                    [rows[p] for p in positions],
                    [answers[p] for p in positions],
                    raw,
                    built,
                    nonfinite,
                    [logged_problems(checks[p], schema) for p in positions],
                    settings,
                    request_id=request_id,
                    version=loaded.version,
                    route=route,
                    positions=positions,
                    seconds=time.perf_counter() - started,
                )
        if records:
            await run_in_threadpool(log.append, records)  # "ack": returns once on disk
        seconds = time.perf_counter() - started
        for loaded, route in groups:
            metrics.latency.labels(route, str(loaded.version)).observe(seconds)
            metrics.requests.labels(route, str(loaded.version), "200").inc()
        versions = {answer["model_version"] for answer in answers}
        return JSONResponse(
            {
                "request_id": request_id,
                "model_version": versions.pop() if len(versions) == 1 else None,
                "predictions": answers,
            }
        )

    add_admin_routes(app, holder, schema, admin)
    if dashboard is not None:
        add_dashboard_route(app, dashboard)
    return app


def _nonfinite(inputs: pd.DataFrame, output: pd.DataFrame) -> list[list[str]]:
    """Per row, the model inputs and outputs holding NaN or an infinity, as
    "model_inputs.<column>:nan|inf" and "outputs.<column>:nan|inf" (JSON in the log cannot
    hold the values themselves)."""
    found: list[list[str]] = [[] for _ in range(len(output))]
    for where, frame in (("model_inputs", inputs.reset_index(drop=True)), ("outputs", output)):
        for column in frame.columns:
            values = frame[column]
            if values.dtype.kind not in "fc":
                continue
            array = values.to_numpy()
            for kind, mask in (("nan", np.isnan(array)), ("inf", np.isinf(array))):
                for i in np.flatnonzero(mask):
                    found[i].append(f"{where}.{column}:{kind}")
    return found


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
