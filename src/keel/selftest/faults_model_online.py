"""model.2's fault: versions whose offline ranking online traffic reverses, planted on a
scratch copy's own registry, log and late labels.

model.2 correlates, across at least `[monitor] min_versions` versions, each version's offline
metric (stored when it was registered) with its metric on the served rows that got late labels,
in windows that are over. A copy has none of that, so the setup (`setup_ranked`, on the clean
copy; the fault is then planted on the same copy, `IN_TURN`) builds it with Keel's own parts:

1. versions of clearly different quality: the copy's training function trained with all but a
   share of the training labels shuffled (none kept for the first version, a tenth for the
   next, …, all of them for the last, which is the user's own model), each registered (with
   its offline metric on the evaluation data) and the code restored;
2. each version promoted in turn on a real `keel serve` of the copy and sent its own slice of
   the evaluation rows (distinct ids per version, `[monitor] min_labels` at least);
3. what the server logged added again to the log as served in earlier windows (the oldest
   version the earliest), so each version's windows are over, as model.2 requires: a window
   still filling is not measured (`[monitor] window` is a day by default);
4. late labels of the evaluation rows written and named by `[data] labels`.

On the clean copy each version's online metric is its metric on its own slice of the
evaluation data, so online ranks the versions as offline does. The fault: the late labels of
the versions' served rows contradict what each predicted (the class after the predicted one;
for a regression, three standard deviations of the target away), for none of the rows of the
worst version offline, all of the best's, and a proportional share in between: online, the
better a version is offline, the worse it does.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from keel.selftest import _plant, traffic
from keel.selftest.fault import Copy, Fault, NotApplicable
from keel.selftest.faults_monitor import DONE, _mark, _once, _servable

__all__ = ["FAULT", "IN_TURN"]

SEED = 20_240_301
ROWS_PER_VERSION = 1_000  # evaluation rows each version serves (at least [monitor] min_labels)
TRAIN_WRAPPER = """
import numpy as _np
_frame = frame.copy()
_rng = _np.random.default_rng({seed})
_values = _frame[target].to_numpy(copy=True)
_rows = _np.flatnonzero(_rng.random(len(_values)) >= {kept!r})
_values[_rows] = _values[_rng.permutation(_rows)]
_frame[target] = _values
return _keel_selftest_original(_frame, target, params, seed, *args, **kwargs)
"""


def kept_shares(versions: int) -> list[float]:
    """The share of training labels each version keeps (the rest shuffled), oldest first:
    none, then a tenth of the next one's, …, and all for the last (the user's model)."""
    return [0.0] + [10.0 ** -(versions - 1 - i) for i in range(1, versions)]


def _register_degraded(copy: Copy, kept: float) -> int:
    """Register a version trained with all but `kept` of the training labels shuffled; the
    copy's code and keel.toml are restored after."""
    from keel.selftest._copy import forget_modules

    spec = _plant.config(copy).get("model", {}).get("train") or ""
    module = _plant.module_file(copy.root, spec.split(":")[0]) if spec else None
    saved = {p: p.read_text(encoding="utf-8") for p in (copy.config_file, module) if p}
    before = {p.name for p in copy.root.glob("_keel_selftest_*.py")}
    try:
        _plant.wrap(
            copy,
            "train",
            TRAIN_WRAPPER.format(seed=SEED, kept=kept),
            why=f"a version trained with {kept:.0%} of its labels kept",
        )
        return traffic.register(traffic.system_of(copy))
    finally:
        for path, text in saved.items():
            path.write_text(text, encoding="utf-8")
        for path in copy.root.glob("_keel_selftest_*.py"):
            if path.name not in before:
                path.unlink()
        forget_modules(copy.root)


def _backdated(records: list[dict[str, Any]], seconds: float, tag: str) -> list[dict[str, Any]]:
    """Copies of `records` served `seconds` earlier, each its own request."""
    out = []
    for i, record in enumerate(records):
        copied = json.loads(json.dumps(record))
        copied["request_id"] = f"selftest-{tag}-{i}"
        copied["row"] = 0
        copied["time"] = (
            dt.datetime.fromisoformat(record["time"]) - dt.timedelta(seconds=seconds)
        ).isoformat()
        out.append(copied)
    return out


def setup_ranked(copy: Copy) -> None:
    """model.2's setup (see the module docstring): versions of different offline quality,
    each served its own evaluation rows by a real server in windows that are over, and the
    late labels of those rows."""
    if _once(copy, "ranked"):
        return
    started = time.perf_counter()
    system = traffic.system_of(copy)
    _servable(system)
    s = system.config.system
    if not s.id:
        raise NotApplicable("no [system] id: late labels cannot join the served rows")
    evaluation = system.raw("eval", all_rows=True)
    if s.id not in evaluation.columns or s.target not in evaluation.columns:
        raise NotApplicable(
            f"the evaluation data lacks {s.id} ([system] id) or {s.target}: no late labels "
            "can be written for the served rows"
        )
    m = system.config.monitor
    count = max(3, m.min_versions)
    available = len(evaluation)
    per = min(available // count, max(ROWS_PER_VERSION, 2 * m.min_labels))
    if per < m.min_labels:
        raise NotApplicable(
            f"the evaluation data has {available} rows: too few for {count} versions "
            f"([monitor] min_versions) to serve [monitor] min_labels ({m.min_labels}) "
            "labelled rows each"
        )
    shares = kept_shares(count)
    versions = [_register_degraded(copy, kept) for kept in shares[:-1]]
    versions.append(traffic.register(traffic.system_of(copy)))
    system = traffic.system_of(copy)
    rows = traffic.client_rows(system, at_most=per * count)
    wait = 4 * system.config.serve.poll_seconds + 30
    traffic.promote_through_gate(system, versions[0], reason="model.2 setup")
    with traffic.serving(system) as url:  # a server needs a champion to start
        for i, version in enumerate(versions):
            if i:
                traffic.promote_through_gate(system, version, reason="model.2 setup")
            traffic.wait_for(url, version, wait=wait)
            traffic.send(url, rows[i * per : (i + 1) * per], batch=100)
    traffic.keep_served(copy)
    for i, version in enumerate(versions):
        served = traffic.served_records(copy, version)
        earlier = (count - i) * system.config.monitor.window
        traffic.append_records(copy, _backdated(served, earlier, f"ranked{version}"))
    traffic.write_labels(copy, system)
    _mark(
        copy,
        "ranked",
        versions=versions,
        labels_kept=dict(zip(map(str, versions), shares, strict=True)),
        rows_per_version=per,
        setup_seconds=round(time.perf_counter() - started, 1),
    )


def _contradicting(
    frame: Any, records: list[dict[str, Any]], target: str, task: str
) -> dict[str, Any]:
    """The labels of `records`' rows (by id) set to what their version did not predict: the
    class after the predicted one, or three standard deviations of the target away."""
    import pandas as pd

    values = frame[target]
    if task == "regression":
        spread = 3 * float(values.astype(float).std() or 1.0)
        return {
            str(r["example_id"]): float(r["prediction"]) + (spread if i % 2 else -spread)
            for i, r in enumerate(records)
        }
    classes = sorted(pd.unique(values).tolist())
    text = {str(c): c for c in classes}
    after = {str(c): classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
    return {
        str(r["example_id"]): after.get(str(r["prediction"]), text.get(str(r["prediction"])))
        for r in records
    }


def plant_reversed_ranking(copy: Copy) -> None:
    """The late labels of each version's served rows contradict what it predicted, for a share
    of them growing with its offline rank: none of the worst version's, all of the best's."""
    import pandas as pd

    from keel.checks._online import offline

    system = traffic.system_of(copy)
    path = copy.root / traffic.SCRATCH / traffic.LABELS
    versions = list(json.loads(_marker(copy).read_text(encoding="utf-8"))["versions"])
    stored = offline(system)
    ranked = sorted(versions, key=lambda v: stored.get(v, float("-inf")))  # worst first
    frame = pd.read_parquet(path)
    ids = frame[system.config.system.id].astype(str)
    target, changed = system.config.system.target, 0
    rng = np.random.default_rng(SEED)
    values = frame[target].astype(object).to_numpy(copy=True)
    for rank, version in enumerate(ranked):
        records = traffic.served_records(copy, version)
        share = rank / (len(ranked) - 1)
        chosen = [records[i] for i in np.flatnonzero(rng.random(len(records)) < share)]
        wrong = _contradicting(frame, chosen, target, system.task)
        where = ids.isin(wrong).to_numpy()
        values[where] = ids[where].map(wrong).to_numpy()
        changed += int(where.sum())
    frame[target] = pd.Series(values, index=frame.index).astype(frame[target].dtype)
    frame.to_parquet(path, index=False)
    shares = ", ".join(f"v{v} {r / (len(ranked) - 1):.0%}" for r, v in enumerate(ranked))
    copy.notes["planted"] = (
        f"{changed} late labels contradict what their version predicted (share of each "
        f"version's served rows, worst offline first: {shares})"
    )


def _marker(copy: Copy) -> Path:
    return copy.root / traffic.SCRATCH / DONE.format(name="ranked")


FAULT = Fault(  # in faults_model's catalogue, between model.1 and model.3
    "model.2",
    "online ranking the reverse of offline",
    plant_reversed_ranking,
    setup_ranked,
    key="model.2",
)
# model.2's setup (trainings, a server) runs once: its check on the set-up copy, then the fault
IN_TURN = {"setup_ranked": ["model.2"]}
