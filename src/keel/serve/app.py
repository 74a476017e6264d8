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

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from keel.data.schema import Schema
from keel.log.writer import PredictionLog
from keel.serve.admin import Admin, add_admin_routes
from keel.serve.batching import Batcher
from keel.serve.dashboard import add_dashboard_route
from keel.serve.direct import DirectRoute
from keel.serve.models import ROUTE_CANARY, ROUTE_CHAMPION, ModelHolder, passes
from keel.serve.predict import Predictor, ServeSettings
from keel.serve.requests import request_json_schema


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


class _Passes:
    """/metrics' `keel_model_pipeline_passes`: per version serving, 1 when its labels are
    taken from its probabilities (one pipeline pass per call, checked at load), 2 when not."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def collect(self) -> Any:
        gauge = GaugeMetricFamily(
            "keel_model_pipeline_passes",
            "Pipeline passes per model call: 1 when the labels are taken from the "
            "probabilities (checked on the evaluation rows at load), 2 when they are not",
            labels=["model_version", "route"],
        )
        try:
            serving = self.holder.serving
        except Exception:  # noqa: BLE001 - not loaded yet: nothing to say
            yield gauge
            return
        gauge.add_metric([str(serving.champion.version), ROUTE_CHAMPION], passes(serving.champion))
        if serving.candidate is not None:
            gauge.add_metric(
                [str(serving.candidate.version), ROUTE_CANARY], passes(serving.candidate)
            )
        yield gauge


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
    metrics = _Metrics(log, uploader)
    predictor = Predictor(schema, holder, log, settings, metrics, batcher)
    batcher = predictor.batcher
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
    metrics.registry.register(_Passes(holder))
    if log is not None and log.on_fsync is None:
        log.on_fsync = metrics.fsync.observe
    app = FastAPI(
        title="keel serve",
        description="Predictions of the registry's champion for rows of the Keel schema.",
    )
    app.add_middleware(DirectRoute, answer=predictor.answer, max_body_bytes=settings.max_body_bytes)
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
        # declared for the OpenAPI document; `DirectRoute` answers POST /predict before it
        status, payload = await predictor.answer(await request.body(), request.headers)
        return JSONResponse(payload, status_code=status)

    add_admin_routes(app, holder, schema, admin)
    if dashboard is not None:
        add_dashboard_route(app, dashboard)
    return app
