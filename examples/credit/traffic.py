"""Simulated traffic for the credit example: applications sent to a running `keel serve`, and
their outcomes written later as labels.

    python examples/credit/traffic.py --url http://127.0.0.1:8000 --rows 2000 --seed 11 \
        --labels examples/credit/data/labels.parquet

New applications come from the same generator as the training data (`generate.py`) with
another seed, so they follow the same distribution; their ids are `S<seed>-<n>`, so they never
collide with training rows. Each is sent as one row of a small batch (`--batch`) from a few
keep-alive connections (`--concurrency`). With `--labels`, the true outcome of every served
application is appended to that Parquet file (`application_id`, `defaulted`): the late labels
`[data] labels` points at, which monitor.7, model.2 and the canary join on the id.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate  # noqa: E402 (the example's own generator, beside this file)

LABEL = "defaulted"
NOT_SENT = (LABEL,)  # the outcome is not known when the application is served


def applications(rows: int, seed: int) -> pd.DataFrame:
    """`rows` new applications (with their true outcome), ids `S<seed>-<n>`."""
    frame = generate(rows, seed)
    frame["application_id"] = [f"S{seed}-{i}" for i in range(1, rows + 1)]
    return frame


def _json_rows(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def send(
    url: str, frame: pd.DataFrame, *, batch: int = 10, concurrency: int = 4
) -> tuple[int, int]:
    """Send `frame` (without the label) to `url`/predict; (rows answered, requests failed)."""
    rows = _json_rows(frame.drop(columns=list(NOT_SENT), errors="ignore"))
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    parts = urlsplit(url)
    answered = [0]
    failed = [0]
    lock = threading.Lock()
    queue = list(reversed(batches))

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    body = json.dumps({"rows": queue.pop()})
                try:
                    connection.request(
                        "POST", "/predict", body, {"Content-Type": "application/json"}
                    )
                    response = connection.getresponse()
                    answer = json.loads(response.read())
                except (OSError, http.client.HTTPException, ValueError):
                    connection.close()
                    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                    with lock:
                        failed[0] += 1
                    continue
                with lock:
                    if response.status == 200:
                        answered[0] += len(answer["predictions"])
                    else:
                        failed[0] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered[0], failed[0]


def write_labels(path: Path, frame: pd.DataFrame) -> int:
    """Append the outcomes of `frame` to the labels file at `path`; the number written."""
    new = frame[["application_id", LABEL]]
    if path.is_file():
        new = pd.concat([pd.read_parquet(path), new], ignore_index=True)
        new = new.drop_duplicates("application_id", keep="last")
    path.parent.mkdir(parents=True, exist_ok=True)
    new.to_parquet(path, index=False)
    return len(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--rows", type=int, default=1000, help="applications to send")
    parser.add_argument("--seed", type=int, default=11, help="random seed of the applications")
    parser.add_argument("--batch", type=int, default=10, help="rows per request")
    parser.add_argument("--concurrency", type=int, default=4, help="connections")
    parser.add_argument("--labels", type=Path, help="append the true outcomes to this file")
    args = parser.parse_args(argv)
    frame = applications(args.rows, args.seed)
    started = time.perf_counter()
    answered, failed = send(args.url, frame, batch=args.batch, concurrency=args.concurrency)
    took = time.perf_counter() - started
    print(
        f"sent {len(frame)} applications: {answered} answered, {failed} failed requests, "
        f"in {took:.1f} s"
    )
    if args.labels:
        print(f"wrote {write_labels(args.labels, frame)} labels to {args.labels}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
