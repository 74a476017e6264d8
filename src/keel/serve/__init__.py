"""`keel serve`: registered models served with validation, a durable prediction log, canary
routing and rollback that follow the registry live.

    app.py         the FastAPI app: /predict, /health, /ready, /version, /metrics
    models.py      the champion (and canary candidate), following the registry's aliases
    requests.py    a request body into rows (4xx `RequestError`, never a crash), its JSON Schema
    validation.py  each row against the schema's serving environment: problems naming the field
    segments.py    framed records in append-only segment files, crash recovery
    predlog.py     PredictionLog: group commit (ack) or a bounded queue (async)
    rollup.py      closed segments into Parquet by date and model version; DuckDB queries
    drill.py       the rollback drill: load, rollback, switch time and failed requests, restore
"""
