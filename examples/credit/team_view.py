"""`make demo`'s last step: the team view (`keel ui`) with the example's reports in it.

    python examples/credit/team_view.py [--port 8800]

Starts `keel ui` on 127.0.0.1 in the background (its database examples/credit/.keel/ui.db,
its pid in .keel/ui.pid, its log in .keel/ui.log; a server this script started before is
stopped first), makes an admin token (printed: sign in with it) and a publish token, publishes
the example's newest score report (.keel/report.json) and monitor report
(.keel/monitor/report.json) as `keel score --publish` / `keel monitor --publish` would, with
keel.toml's [system] team and owner, and prints the URL. Stop the server with
`kill $(cat examples/credit/.keel/ui.pid)`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEL_DIR = HERE / ".keel"


def _free(port: int) -> int:
    """`port` when nothing listens on it, else a free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def _stop_previous(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    try:
        os.killpg(int(pid_file.read_text().strip()), signal.SIGTERM)
        time.sleep(1)
    except (ValueError, ProcessLookupError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)


def _keel(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "keel", *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    from keel.config import load_config
    from keel.ui.publish import publish_run

    KEEL_DIR.mkdir(exist_ok=True)
    pid_file = KEEL_DIR / "ui.pid"
    _stop_previous(pid_file)
    port = _free(args.port)
    url = f"http://127.0.0.1:{port}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    admin = _keel("ui", "token", "create", "--role", "admin", "--name", f"demo-admin-{stamp}",
                  "--data-dir", str(HERE))  # fmt: skip
    publisher = _keel("ui", "token", "create", "--role", "publish", "--name",
                      f"demo-ci-{stamp}", "--data-dir", str(HERE))  # fmt: skip
    with open(KEEL_DIR / "ui.log", "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "keel", "ui", "--data-dir", str(HERE), "--port", str(port)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    pid_file.write_text(str(server.pid))
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/login", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                print(f"keel ui did not start: see {KEEL_DIR / 'ui.log'}", file=sys.stderr)
                return 1
            time.sleep(0.2)
    system = load_config(HERE)[0].system
    for kind, file in (("score", KEEL_DIR / "report.json"),
                       ("monitor", KEEL_DIR / "monitor" / "report.json")):  # fmt: skip
        if not file.exists():
            print(f"no {file.relative_to(HERE.parent.parent)} yet: nothing of kind {kind} sent")
            continue
        outcome = publish_run(json.loads(file.read_text(encoding="utf-8")), kind=kind,
                              keel_dir=KEEL_DIR, url=url, token=publisher,
                              team=system.team, owner=system.owner)  # fmt: skip
        for line in outcome.lines:
            print(line)
    print(f"\nKeel team view: {url}/  (sign in with the admin token below)")
    print(f"token: {admin}")
    print(f"stop it: kill {server.pid}   (pid in {pid_file.relative_to(HERE.parent.parent)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
