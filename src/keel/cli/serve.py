"""`keel serve [PATH] [--host --port --workers]`: serve the registry's champion over HTTP.

keel.toml is read here and only here: the schema file, `[registry]`, `[serve]`, `[system] id`,
`[data] serving_log` and a few evaluation rows (to warm each model before it serves) become
plain values for `keel.serve`, so the server process loads no System, no checks and no
training code. With `--workers N` (or `[serve] workers`) above 1, N worker processes serve the
connections this process accepts, each handed to the least busy worker (see
`keel.serve.workers`); with 1 the server listens and runs in this process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from keel.cli._app import PathArg, command, err
from keel.errors import KeelError

WARM_ROWS = 1_000  # eval rows: a new version predicts them before it serves


def warm_rows(config: Any, root: Path, schema: Any) -> tuple[Any, str | None]:
    """The first `WARM_ROWS` rows of `[data] eval` (else `[data] train`) in the schema's
    serving columns, and None; or None and why they cannot be read."""
    from keel.data.sources import read_table

    source = config.data.eval if config.data.eval is not None else config.data.train
    columns = [n for n, f in schema.features.items() if "serving" not in f.absent_in]
    try:
        table = read_table(source, root, key="[data] eval", encoding=config.data.encoding)
        table = table.slice(0, WARM_ROWS)
        frame = table.select([c for c in columns if c in table.column_names]).to_pandas()
    except Exception as exc:  # noqa: BLE001 - warming is best effort
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if frame.empty:
        return None, "the data has no rows"
    return frame, None


def server_parts(path: Path) -> dict[str, Any]:
    """What `keel serve` needs from the system at `path`, as plain values (for tests too):
    schema, registry reference, settings, the prediction log's folder (None: `[serve] log =
    false`; a local spool when `[data] serving_log` is a URL, then also `log_url`), `[serve]`,
    the warm rows (None when unreadable) and why they are missing."""
    from keel.config import load_config, registry_ref
    from keel.data.schema import load_schema
    from keel.log.remote import is_url, spool_root
    from keel.log.writer import segments_dir
    from keel.serve.admin import Admin
    from keel.serve.app import ServeSettings

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
    schema = load_schema(schema_file)
    warm, cold = warm_rows(config, root, schema)
    where = config.data.serving_log
    url = where if is_url(where) else None  # written to a local spool, uploaded once sealed
    folder = spool_root(root, where) if url else root / where
    token = os.environ.get("KEEL_ADMIN_TOKEN", "").strip()
    return {
        "admin": Admin(token, ref, config.system.id) if token else None,
        "dashboard": root / ".keel" / "monitor" / "dashboard.html",
        "schema": schema,
        "ref": ref,
        "settings": settings,
        "log_folder": segments_dir(folder) if serve.log else None,
        "log_url": url if serve.log else None,
        "serve": serve,
        "warm": warm,
        "cold": cold,
    }


def _uploader(parts: dict[str, Any]) -> Any:
    """The thread that uploads this process's sealed segments to `[data] serving_log`'s URL
    (None for a local log); its problems are printed once each on stderr, secrets removed."""
    from keel.log.remote import Uploader, host_name

    if parts.get("log_url") is None or parts["log_folder"] is None:
        return None

    def said(problem: str | None) -> None:
        text = "uploads of the prediction log work again" if problem is None else problem
        err.print(f"{'note' if problem is None else 'warning'}: {text}", highlight=False)

    spool = Path(parts["log_folder"]).parent
    return Uploader(parts["log_url"], spool, host=host_name(), on_problem=said)


def _closer(log: Any, uploader: Any) -> Any:
    """Close the log (its open segment is sealed), then upload what it sealed."""

    def close() -> None:
        try:
            log.close()
        finally:
            if uploader is not None:
                uploader.close()

    return close


def _server(parts: dict[str, Any]) -> tuple[Any, Any, Any, threading.Event]:
    """(app, holder, close_log or None, stop event) of one server process: the champion loaded
    and warmed, the registry followed, BLAS/OpenMP pinned to one thread, what is loaded frozen
    for the garbage collector."""
    from keel.log.writer import PredictionLog
    from keel.serve.app import create_app
    from keel.serve.models import ModelHolder, refreeze, registry_calls
    from keel.serve.workers import one_thread_per_worker

    one_thread_per_worker()
    config = parts["serve"]
    holder = ModelHolder(registry_calls(parts["ref"]), warm=parts["warm"])
    holder.start()  # loads and warms: nothing is served before
    one_thread_per_worker()  # the pools the model's libraries loaded
    folder = parts["log_folder"]
    log = None
    if folder is not None:  # each worker process its own log, sealed by age as configured
        log = PredictionLog(folder, durability=config.durability, seal_seconds=config.seal_seconds)
    uploader = _uploader(parts)
    stop = threading.Event()
    holder.follow(stop, config.poll_seconds)
    app = create_app(
        parts["schema"],
        holder,
        log,
        parts["settings"],
        admin=parts.get("admin"),
        dashboard=parts.get("dashboard"),
        uploader=uploader,
    )
    refreeze()  # what is loaded lives as long as the process: out of the collector's passes
    return app, holder, None if log is None else _closer(log, uploader), stop


def _run(app: Any, sock: Any) -> None:
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def worker(index: int, ready: Any, inbox: Any, path: str) -> None:
    """One worker process of `keel serve --workers N` (spawned by keel.serve.workers): it
    serves the connections the supervisor hands it over `inbox`."""
    import uvicorn

    from keel.serve.handed import HandedServer
    from keel.serve.workers import exit_with_parent

    os.setpgrp()  # Ctrl-C reaches the supervisor only; it stops the workers in order
    try:
        app, _, close_log, stop = _server(server_parts(Path(path)))
    except Exception as exc:  # noqa: BLE001 - reported by the supervisor
        ready.put((index, os.getpid(), f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    exit_with_parent(lambda: os.kill(os.getpid(), 15))
    ready.put((index, os.getpid(), None))
    try:
        HandedServer(uvicorn.Config(app, log_level="warning"), inbox).run()
    finally:
        stop.set()
        if close_log is not None:
            close_log()


def _describe(parts: dict[str, Any], version: int, url: str, workers: int) -> str:
    config = parts["serve"]
    log = (
        f"{parts['log_folder']}, sealed every {config.seal_seconds:g} s"
        if parts["log_folder"] is not None
        else "off ([serve] log = false)"
    )
    if parts.get("log_url") is not None:
        from keel.log.remote import host_name, shown

        log = (
            f"{shown(parts['log_url'])} as host '{host_name()}' (spooled in "
            f"{Path(parts['log_folder']).parent}, sealed every {config.seal_seconds:g} s, "
            "then uploaded)"
        )
    who = f"{workers} workers" if workers > 1 else "1 worker"
    return (
        f"serving version {version} of '{parts['ref'].model}' on {url} ({who}; following the "
        f"registry every {config.poll_seconds:g} s; prediction log: {log}; admin routes "
        f"{'on (KEEL_ADMIN_TOKEN)' if parts.get('admin') else 'off (no KEEL_ADMIN_TOKEN)'})"
    )


def _bound(host: str, port: int) -> Any:
    """A socket bound to host:port, not listening yet; a clear error when it cannot be."""
    from keel.serve.workers import bind_socket

    try:
        return bind_socket(host, port, reuse_port=False, listen=False)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise KeelError(
            f"keel serve cannot listen on {host}:{port}: {why}. Is another server using the "
            "port? Choose another with --port (or [serve] port), or --port 0 for a free one"
        ) from None


@command("serve")
def serve(
    path: PathArg = Path("."),
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: [serve] host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [serve] port, 8000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (default: [serve] workers, 1)."),
    ] = None,
) -> None:
    """Serve the registry's champion: validated rows in, predictions out, every row logged."""
    from keel.serve.workers import Supervisor, one_thread_per_worker

    one_thread_per_worker()  # before numpy and the model load; spawned workers inherit it
    parts = server_parts(path)
    config = parts["serve"]
    if parts["cold"] is not None:
        err.print(
            f"note: cannot read evaluation rows to warm the model with ({parts['cold']}); "
            "each version serves unwarmed",
            highlight=False,
        )
    bind, at = host or config.host, port if port is not None else config.port
    count = workers if workers is not None else config.workers
    shown = f"[{bind}]" if ":" in bind else bind
    if count == 1:
        sock = _bound(bind, at)  # a busy port is said before the slow load
        with err.status("loading the champion"):
            app, holder, close_log, stop = _server(parts)
        sock.listen(2048)
        url = f"http://{shown}:{sock.getsockname()[1]}"
        err.print(_describe(parts, holder.serving.champion.version, url, 1), highlight=False)
        try:
            _run(app, sock)
        except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: not an interruption
            pass
        finally:
            stop.set()
            if close_log is not None:
                close_log()
        err.print("stopped; the prediction log is closed", highlight=False)
        return
    reserved = _bound(bind, at)  # port 0: pick one now; listened on once
    real = reserved.getsockname()[1]  # every worker is ready, by the supervisor
    supervisor = Supervisor(worker, (str(Path(path).resolve()),), count, listener=reserved)
    try:
        with err.status(f"starting {count} workers"):
            try:
                supervisor.start()
            except RuntimeError as exc:
                raise KeelError(f"keel serve: {exc}") from None
        from keel.serve.models import registry_calls

        version = registry_calls(parts["ref"]).aliases().get("champion", "?")
        err.print(_describe(parts, version, f"http://{shown}:{real}", count), highlight=False)
        code = supervisor.run()
    finally:
        reserved.close()
    if code:
        raise typer.Exit(code)
