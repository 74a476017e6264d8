"""`python -m keel.serve.pinned`: a server of one fixed version, for checks that question it.

The same app as `keel serve`, but serving the version named on the command line alone: it
follows no alias and writes no prediction log, and rows with schema anomalies are served and
flagged rather than refused (a check compares every row it sends). infra.3's serving step and a
canary's first step start one on a free loopback port (`keel.serve.process.serve_version`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m keel.serve.pinned")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--version", required=True, type=int)
    parser.add_argument("--schema", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--id-column", default=None)
    args = parser.parse_args(argv)

    import uvicorn

    from keel.data.schema import load_schema
    from keel.errors import KeelError
    from keel.registry.ref import RegistryRef
    from keel.serve.app import ServeSettings, create_app
    from keel.serve.models import CHAMPION, ModelHolder, registry_calls

    ref = RegistryRef(args.uri, args.root, args.model, args.model, args.state)
    calls = registry_calls(ref)
    calls.aliases = lambda: {CHAMPION: args.version}
    try:
        schema = load_schema(args.schema)
        holder = ModelHolder(calls)
        holder.start()
    except KeelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    settings = ServeSettings(on_anomaly="flag", id_column=args.id_column)
    app = create_app(schema, holder, None, settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
