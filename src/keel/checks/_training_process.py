"""One of infra.1's two training processes: `python -m keel.checks._training_process CONFIG
SAMPLE OUT`, started by `keel.checks._measure_infra.reproduce`.

It builds the System from keel.toml (CONFIG) without the cache, trains on a seeded sample of
at most SAMPLE training rows and predicts as many evaluation rows, leaving out the rows the
parent found the model raises on (`OUT/unpredictable.npy`, when there are any), with
`keel.model.reproduce.train_once`. It writes the predictions to `OUT/predictions.npy` and the
run (`keel.model.reproduce.Run`) to `OUT/run.json`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from keel.errors import KeelError
from keel.model.reproduce import train_once
from keel.system import System


def main(config_file: str, sample: int, out: Path) -> None:
    """Train once from keel.toml and write what the parent compares to `out`."""
    system = System.from_path(config_file, use_cache=False)
    left_out = out / "unpredictable.npy"
    # all evaluation rows, less those the parent found the model raises on: asking the System
    # for its predictable rows would train the full model again in this process
    values, run = train_once(
        system.fit,
        system.predict,
        system.dataset("train"),
        system.dataset("eval", all_rows=True),
        metric=system.metric_name,
        sample=sample,
        seed=system.config.model.seed,
        left_out=np.load(left_out) if left_out.exists() else None,
    )
    np.save(out / "predictions.npy", values)
    (out / "run.json").write_text(json.dumps(asdict(run), default=repr))


if __name__ == "__main__":
    try:
        main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
    except KeelError as exc:  # the message is for the user; a traceback only for a Keel bug
        print(exc, file=sys.stderr)
        sys.exit(1)
