"""Where one request's microseconds go in `keel serve` (issue 21, item 6): a profile at
concurrency 1 on the trivial model (a constant classifier, no feature code), so what is
measured is the server.

Run by hand (not a unit test): `python benchmarks/serve_profile.py [--repeat 2000]`. It

1. builds the trivial system of benchmarks/serve.py in a scratch folder (its own SQLite
   registry; version 1 promoted, version 2 as a canary at share 0.1);
2. in this process, loads the served versions as `keel serve` does (`ModelHolder`, the warm
   rows) and times each stage of one single-row request, `--repeat` times each, median:
   parse (the JSON body into rows), validate (the schema's rules), route (champion or canary
   by the example id), model call (the typed frame, the model's call, the answers), log
   records (the raw and model inputs as the log keeps them, personal data handled, and the
   records), encode (the records framed for the log), fsync (one record appended with
   `durability = "ack"` to a log in the scratch folder) and answer (the response encoded);
3. starts `keel serve --workers 1` with `durability = "async"` and then `"ack"` and drives
   each with wrk at concurrency 1 for `--seconds`: the client's p50, and the server's own mean
   time per request from /metrics (`keel_request_seconds`); what the client waits beyond the
   stages is HTTP, the event loop and the threads handing work over.

It runs against whatever Keel is on PYTHONPATH: the stages are taken from the server's
functions of this version, or of the version before issue 21 (commit 5b5374f: row-wise
`to_frame`, `_records`, two pipeline passes), so the same script gives the "before" and
"after" columns of the README's table:

    PYTHONPATH=<old checkout>/src python benchmarks/serve_profile.py
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # see serve.py
_spec = importlib.util.spec_from_file_location("_serve_bench", HERE / "serve.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def timed(function: Callable[[], Any], repeat: int) -> float:
    """Median microseconds of `function` over `repeat` calls (after 50 warm-up calls)."""
    for _ in range(50):
        function()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return 1e6 * statistics.median(samples)


def stages(system: Path, scratch: Path, repeat: int) -> tuple[list[tuple[str, float]], str]:
    """(stage, microseconds) of one single-row request, and which code was measured."""
    import json

    from keel.cli.serve import server_parts
    from keel.log.segments import encode_record
    from keel.log.writer import PredictionLog
    from keel.serve.models import ModelHolder, registry_calls
    from keel.serve.requests import parse_body
    from keel.serve.validation import RowValidator

    os.chdir(system)
    parts = server_parts(system)
    holder = ModelHolder(registry_calls(parts["ref"]), warm=parts["warm"])
    holder.start()
    schema, settings = parts["schema"], parts["settings"]
    body = bench.bodies_for(system, "keel", 1)[0].encode()
    validator = RowValidator(schema, environment="serving")
    serving = holder.serving
    loaded = serving.champion
    rows = parse_body(body, max_bytes=10**6, max_rows=1000)
    checks = validator.check(rows)
    log = PredictionLog(scratch / "profile-log" / "segments", durability="ack")
    out: list[tuple[str, float]] = [
        ("parse", timed(lambda: parse_body(body, max_bytes=10**6, max_rows=1000), repeat)),
        ("validate", timed(lambda: validator.check(rows), repeat)),
    ]
    try:
        from keel.serve import predict as hot  # after issue 21
    except ImportError:
        hot = None
    if hot is not None:
        from keel.serve.columns import column_arrays, log_rows, model_frame, typed_columns

        out.append(
            ("route", timed(lambda: hot._routed(serving, rows, settings.id_column, "r"), repeat))
        )
        model = loaded.model.unwrap_python_model()

        def model_call():
            columns = typed_columns(schema, rows, checks)
            arrays = column_arrays(schema, columns)
            frame = model_frame(arrays, 1, model.inputs if model.build is None else None)
            inputs, labels, proba = model.predict_arrays(frame)
            return columns, arrays, inputs, hot._outcomes(labels, proba, model.classes)

        out.append(("model call", timed(model_call, repeat)))
        columns, arrays, inputs, outcomes = model_call()
        answers = [hot._answer(o, loaded.version, "champion") for o in outcomes]

        def records():
            raw = log_rows(schema, columns, arrays, settings.pii_key)
            names = [str(c) for c in model.inputs]
            built = [{n: r[n] for n in names if n in r} for r in raw]
            return hot._log_records(
                rows, answers, raw, built, [[]], [[]], settings, request_id="r",
                version=loaded.version, route="champion", positions=[0], seconds=0.001,
            )  # fmt: skip

        code = "after issue 21 (keel.serve.predict, keel.serve.columns)"
    else:  # the server before issue 21
        from keel.serve import app as old
        from keel.serve.batching import predict_rows
        from keel.serve.validation import to_frame

        out.append(
            ("route", timed(lambda: old._routed(serving, rows, settings.id_column, "r"), repeat))
        )

        def model_call():
            frame = to_frame(schema, rows, checks)
            inputs, output = predict_rows(loaded, frame)
            return frame, inputs, output, old._outcomes(output)

        out.append(("model call", timed(model_call, repeat)))
        frame, inputs, output, outcomes = model_call()
        answers = [old._answer(o, loaded.version, "champion") for o in outcomes]

        def records():
            raw = old._records(old._handled(frame, schema, settings.pii_key))
            built = old._records(old._handled(inputs.reset_index(drop=True), schema, None))
            found = old._nonfinite(inputs, output)
            return old._log_records(
                rows, answers, raw, built, found, [[]], settings, request_id="r",
                version=loaded.version, route="champion", positions=[0], seconds=0.001,
            )  # fmt: skip

        code = "before issue 21 (row-wise to_frame and records, two pipeline passes)"
    out.append(("log records", timed(records, repeat)))
    made = records()
    out.append(("encode", timed(lambda: [encode_record(r) for r in made], repeat)))
    out.append(("fsync (ack append)", timed(lambda: log.append(made), min(repeat, 500))))
    payload = {"request_id": "r", "model_version": loaded.version, "predictions": answers}
    try:
        import orjson

        encode = orjson.dumps if hot is not None else (lambda p: json.dumps(p).encode())
    except ImportError:
        encode = lambda p: json.dumps(p).encode()  # noqa: E731
    out.append(("answer", timed(lambda: encode(payload), repeat)))
    log.close()
    return out, code


def served(system: Path, scratch: Path, durability: str, seconds: float) -> dict[str, float]:
    """wrk's p50 at concurrency 1 and the server's own mean seconds per request."""
    bench.set_durability(system, durability)
    port = bench.free_port()
    command = bench.command_for("keel", system, port, 1)
    command += ["--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(system), env.get("PYTHONPATH", "")])
    bodies = bench.bodies_for(system, "keel")
    load = bench.Wrk(scratch, bodies, f"profile-{durability}")
    with open(scratch / f"profile-{durability}.log", "w") as out:
        process = subprocess.Popen(
            command, cwd=system, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            bench.wait_ready(url + "/ready", process)
            load.warm(url + "/predict", 1)
            before = _server_seconds(url)
            run = load.run(url + "/predict", 1, seconds, process.pid)
            after = _server_seconds(url)
        finally:
            bench.stop(process)
    count = after[1] - before[1]
    own = (after[0] - before[0]) / count if count else float("nan")
    return {"p50_ms": run.p50_ms, "own_ms": 1000 * own, "requests_s": run.requests_s}


def _server_seconds(url: str) -> tuple[float, float]:
    """(sum, count) of keel_request_seconds over every route and version."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("keel_request_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("keel_request_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000, help="calls per stage")
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk seconds per server")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="keel-serve-profile-"))
    system = bench.prepare(scratch, "trivial")
    bench.register(system, "trivial")
    measured, code = stages(system, scratch, args.repeat)
    asyncio.set_event_loop(asyncio.new_event_loop())
    http = {d: served(system, scratch, d, args.seconds) for d in ("async", "ack")}
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}; {os.cpu_count()} cores; load average {load:.2f} "
        f"before, {os.getloadavg()[0]:.2f} after; code: {code}"
    )
    print("\n| stage of one single-row request | microseconds |\n| --- | ---: |")
    for name, micros in measured:
        print(f"| {name} | {micros:,.0f} |")
    print(f"| sum of the stages | {sum(m for _, m in measured):,.0f} |")
    print("\n| keel serve --workers 1, wrk at concurrency 1 | async | ack |\n| --- | ---: | ---: |")
    for key, label in (
        ("p50_ms", "client p50 (ms)"),
        ("own_ms", "server's own mean time per request, /metrics (ms)"),
        ("requests_s", "requests/s"),
    ):
        print(f"| {label} | {http['async'][key]:.2f} | {http['ack'][key]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
