"""The README's worked example of "KServe and Seldon (CloudEvents)", typed as it is written:
`keel ingest` in the background, the two `curl` commands KServe's logger would send, then
`keel logs query` and `keel monitor` (only the port changed: 8080 may be taken here)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from systems import binary_frame, write_system
from threadpoolctl import threadpool_limits

from keel.serve.process import free_port, launch

README = Path(__file__).resolve().parents[2] / "README.md"
SRC = Path(__file__).resolve().parents[2] / "src"


def example_commands() -> list[str]:
    """The commands of the subsection's bash block, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### KServe and Seldon (CloudEvents)") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def run(command: str, folder: Path) -> str:
    """A command of the example in bash, `keel` being this checkout's."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    shell = f'keel() {{ "{sys.executable}" -m keel "$@"; }}\n{command}'
    done = subprocess.run(
        ["bash", "-c", shell], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout + done.stderr


def test_the_readme_example_runs_as_written(tmp_path):
    frame = binary_frame(600).assign(uid=[f"u{i}" for i in range(600)])
    write_system(
        tmp_path, frame, sections={"system": {"id": "uid"}, "serving": {"model_version": 1}}
    )
    run("keel schema infer data/train.parquet -o keel.schema.yaml --config .", tmp_path)
    with threadpool_limits(1):
        run("keel train && keel promote 1", tmp_path)
    commands = example_commands()
    assert commands[0] == "keel ingest --port 8080 &"
    port = free_port()
    commands = [c.replace("8080", str(port)) for c in commands]
    argv = [sys.executable, "-m", "keel", "ingest", "--port", str(port)]
    env = {"PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    server = launch(argv, url=f"http://127.0.0.1:{port}", env=env, cwd=tmp_path)
    try:
        curls = [c for c in commands if c.startswith("curl ")]
        assert len(curls) == 2
        assert json.loads(run(curls[0], tmp_path)) == {"rows": 0, "held": 1}
        assert json.loads(run(curls[1], tmp_path)) == {"rows": 2, "held": 0}
    finally:
        server.process.send_signal(signal.SIGINT)  # the user's Ctrl-C
        server.process.wait(60)
        server.stop()
    (query,) = [c for c in commands if c.startswith("keel logs query")]
    shown = run(query, tmp_path)
    assert "5c1e-01" in shown and "a-1" in shown
    assert re.search(r"│ 0\s+│ a-1\s+│ 1\s+│", shown), shown
    assert commands[-1] == "keel monitor"
    report = run(commands[-1], tmp_path)
    assert "2 served rows taken" in report and "Traceback" not in report
