"""`keel ingest [PATH] [--host --port]`: receive KServe/Seldon payload logging into Keel's log.

Point an InferenceService's `logger.url` (or Seldon's request logger) at this receiver: each
request and response CloudEvent pair becomes rows of Keel's own prediction log (`[data]
serving_log`), written with `[serve] durability` and sealed every `[serve] seal_seconds`, so
`keel logs query` and `keel monitor` read them as they read what `keel serve` logged. The
registered version that served them comes from `[serving] versions` (keyed by the V2
response's model_version, "<inferenceservicename>/<endpoint>", the endpoint or the
InferenceService name) or `[serving] model_version`. Instances sent as lists of values are
named by the schema's serving inputs, in the schema's order; `[system] id` names the input
holding the example id late labels join on. The app is `keel.serve.ingest`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from keel.cli._app import PathArg, command, err
from keel.errors import KeelError


def ingest_settings(config: Any, root: Path) -> Any:
    """`[serving]`, the schema's serving inputs (in its order) and `[system] id` as the plain
    `ForeignSettings` the CloudEvents reader takes (format "cloudevents")."""
    from keel.data.schema import load_schema
    from keel.log.foreign import ForeignSettings

    schema_file = root / config.data.schema_file
    columns: dict[str, Any] = {}
    if schema_file.is_file():
        schema = load_schema(schema_file)
        columns["inputs"] = [n for n, f in schema.features.items() if "serving" not in f.absent_in]
    if config.system.id:
        columns["id"] = config.system.id
    serving = config.serving
    return ForeignSettings(
        format="cloudevents",
        source=serving.source or "",
        model_version=serving.model_version,
        versions=dict(serving.versions),
        columns=columns,
    )


@command("ingest")
def ingest(
    path: PathArg = Path("."),
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 8080,
    pair_seconds: Annotated[
        float,
        typer.Option(min=1, max=3600, help="How long an event waits in memory for its partner."),
    ] = 30.0,
    max_held_mb: Annotated[
        int, typer.Option(min=1, max=65536, help="Bodies held waiting for a partner, at most.")
    ] = 64,
) -> None:
    """Receive KServe/Seldon payload-logging CloudEvents (logger.url) into the prediction log."""
    import uvicorn

    from keel.config import load_config
    from keel.log.writer import PredictionLog, segments_dir
    from keel.serve.ingest import IngestSettings, Receiver
    from keel.serve.workers import bind_socket

    config, file = load_config(path)
    root = file.parent
    foreign = ingest_settings(config, root)
    if foreign.model_version is None and not foreign.versions:
        raise KeelError(
            f"keel ingest needs the registered version that served the events: set [serving] "
            f"model_version (one version) or [serving] versions (e.g. "
            f'"<inferenceservicename>/<endpoint>" = 3) in {file}'
        )
    try:
        sock = bind_socket(host, port, reuse_port=False)
    except OSError as exc:
        raise KeelError(
            f"keel ingest cannot listen on {host}:{port}: {exc.strerror or exc}. Is another "
            "server using the port? Choose another with --port, or --port 0 for a free one"
        ) from None
    serve = config.serve
    folder = segments_dir(root / config.data.serving_log)
    log = PredictionLog(folder, durability=serve.durability, seal_seconds=serve.seal_seconds)
    held = root / ".keel" / "ingest" / "held.jsonl"
    held.parent.mkdir(parents=True, exist_ok=True)
    app = Receiver(
        foreign,
        log,
        IngestSettings(
            pair_seconds=pair_seconds, max_held_bytes=max_held_mb * 1024 * 1024, held_file=held
        ),
    )
    shown = f"[{host}]" if ":" in host else host
    err.print(
        f"receiving CloudEvents on http://{shown}:{sock.getsockname()[1]}/ (prediction log: "
        f"{folder}, durability {serve.durability}, sealed every {serve.seal_seconds:g} s; "
        f"events wait {pair_seconds:g} s for their partner)",
        highlight=False,
    )
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        log.close()
        sock.close()
    kept = len(app.pairing)
    note = f"; {kept} unpaired events kept in {held} for the next start" if kept else ""
    err.print(f"stopped; the prediction log is closed{note}", highlight=False)
