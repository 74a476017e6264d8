"""`keel serve [PATH] [--host --port]`: serve the registry's champion over HTTP.

keel.toml is read here and only here: the schema file, `[registry]`, `[serve]`, `[system] id`
and `[data] serving_log` become plain values for `keel.serve`, so the server process loads no
System, no checks and no training code.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from keel.cli._app import PathArg, command, err
from keel.errors import KeelError


def server_parts(path: Path) -> dict[str, Any]:
    """What `keel serve` needs from the system at `path`, as plain values (for tests too):
    schema, registry reference, settings, the prediction log's folder and `[serve]`."""
    from keel.config import load_config, registry_ref
    from keel.data.schema import load_schema
    from keel.serve.app import ServeSettings
    from keel.serve.predlog import segments_dir

    config, file = load_config(path)
    root = file.parent
    schema_file = root / config.data.schema_file
    if not schema_file.is_file():
        raise KeelError(
            f"keel serve validates every request against the schema, and {schema_file} does "
            f"not exist ([data] schema in {file}): write one with `keel schema infer DATA -o "
            f"{schema_file.name}` and review it"
        )
    ref = registry_ref(config, root)
    serve = config.serve
    settings = ServeSettings(
        max_batch_rows=serve.max_batch_rows,
        max_body_bytes=serve.max_body_bytes,
        on_anomaly=serve.on_anomaly,
        id_column=config.system.id,
    )
    return {
        "schema": load_schema(schema_file),
        "ref": ref,
        "settings": settings,
        "log_folder": segments_dir(root / config.data.serving_log),
        "serve": serve,
    }


@command("serve")
def serve(
    path: PathArg = Path("."),
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: [serve] host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [serve] port, 8000).")] = None,
) -> None:
    """Serve the registry's champion: validated rows in, predictions out, every row logged."""
    import uvicorn

    from keel.serve.app import create_app
    from keel.serve.models import ModelHolder, registry_calls
    from keel.serve.predlog import PredictionLog

    parts = server_parts(path)
    config = parts["serve"]
    holder = ModelHolder(registry_calls(parts["ref"]))
    with err.status("loading the champion"):
        serving = holder.start()
    log = PredictionLog(parts["log_folder"], durability=config.durability)
    stop = threading.Event()
    holder.follow(stop, config.poll_seconds)
    app = create_app(parts["schema"], holder, log, parts["settings"])
    bind, at = host or config.host, port if port is not None else config.port
    err.print(
        f"serving version {serving.champion.version} of '{parts['ref'].model}' on "
        f"http://{bind}:{at} (following the registry every {config.poll_seconds:g} s; "
        f"prediction log: {parts['log_folder']})",
        highlight=False,
    )
    try:
        uvicorn.run(app, host=bind, port=at, log_level="warning")
    finally:
        stop.set()
        log.close()
