"""The selftest's faults of the serving and monitoring practices: monitor.1 … monitor.7, and
infra.6 (canary) and infra.7 (rollback drill), planted on a scratch copy's own registry and log.

Two setups build, on the clean copy and on each faulty one alike, what these checks read
(`keel.selftest.traffic`, with Keel's own parts):

- `served` (monitor.1–7): two versions of the copy's model registered (with model.4's age
  limit when the system has a timestamp) and promoted in turn through the gate, so the second
  serves with an earlier version to compare with; a real `keel serve` answers the evaluation
  rows; the records it logged are kept for the faults; late labels for those rows are written
  and named by the copy's `[data] labels` (with a `[system] id`).
- `operated` (infra.6, infra.7): a first version promoted; a second put through a real canary
  on a real server (half the example ids, both routes compared on what the server logged,
  judged as `keel canary status --decide` judges it once its `[canary] window` is over; labels
  have not arrived for its rows), recorded and promoted; then a real rollback drill
  (`keel.serve.drill.rollback_drill`, under `[drill]`'s load) recorded.

Each fault then plants one thing, chosen from the copy's own schema, records and lineage so it
fits any system:

    monitor.1  the serving version's recorded environment names another version of a package
    monitor.2  rows that break the schema (a wrong type in a required input) sent to a server
    monitor.3  served records whose model input differs from what the feature code computes
    monitor.4  the serving version's training data ending twice model.4's age limit ago
    monitor.5  served records with NaN probabilities (NaN predictions for a regression)
    monitor.6  the serving version's served latency, four times lower in the windows before
    monitor.7  late labels wrong for 30% of the served rows
    infra.6    a new version promoted through the gate with no canary
    infra.7    a newer rollback drill of the champion in which 5% of requests failed

A fault that cannot be planted here raises `NotApplicable` with the reason (no timestamp or
staleness limit for monitor.4, no `[system] id` for labels, no schema for invalid rows).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np

from keel.selftest import traffic
from keel.selftest.fault import Copy, Fault, NotApplicable

__all__ = ["FAULTS"]

DONE = "setup-{name}.json"  # marks a copy set up (with the registry it was done in)
SKEWED_ROWS = 1.0  # monitor.3: served records added with a skewed model input, per served one
NAN_SHARE = 0.1  # monitor.5: served records added with NaN outputs, per served one
INVALID_SHARE = 0.1  # monitor.2: invalid rows sent, per served row
CREEP = (0.25, 0.5, 0.75)  # monitor.6: the served latency of the windows before, oldest first
WRONG_LABELS = 0.3  # monitor.7: share of the served rows whose late label is made wrong
FAILED_REQUESTS = 0.05  # infra.7: share of the drill's requests that failed
CANARY_SHARE = 0.5  # the setup's canary: share of example ids routed to the candidate


def _once(copy: Copy, name: str) -> bool:
    """True when `copy` was already set up by setup `name` in its own registry (a copy made
    of a set-up copy, with another registry, is set up again)."""
    marker = copy.root / traffic.SCRATCH / DONE.format(name=name)
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("registry_uri") == copy.registry_uri:
            return True
    return False


def _mark(copy: Copy, name: str, **facts: Any) -> None:
    marker = traffic.scratch(copy) / DONE.format(name=name)
    marker.write_text(json.dumps({"registry_uri": copy.registry_uri, **facts}), encoding="utf-8")
    copy.notes.update(facts)


def _serving_rows(system: Any) -> int:
    """Rows to serve: every window judged needs `[monitor] min_rows` served rows and
    `min_labels` labelled ones; a little more than both."""
    m = system.config.monitor
    return int(max(m.min_rows, m.min_labels) * 1.25)


# -- the setups --------------------------------------------------------------------------


def _servable(system: Any) -> None:
    """Raise NotApplicable when `keel serve` cannot serve the copy as the setups need: it
    validates against the schema file, and logs only with `[serve] log`."""
    if not (system.root / system.config.data.schema_file).is_file():
        raise NotApplicable(
            f"no schema file ({system.config.data.schema_file}): `keel serve` validates every "
            "request against it, so nothing can be served"
        )
    if not system.config.serve.log:
        raise NotApplicable("[serve] log = false: the server keeps no prediction log to monitor")


def setup_served(copy: Copy) -> None:
    """monitor.1–7's setup: two versions promoted in turn (the second serving), the
    evaluation rows served by a real server, its records kept, late labels written."""
    if _once(copy, "served"):
        return
    system = traffic.system_of(copy)
    _servable(system)
    timed = system.config.system.timestamp is not None
    first = traffic.register(system, staleness_limit=timed)
    gated = traffic.promote_through_gate(system, first)
    second = traffic.register(system, staleness_limit=timed)
    gated &= traffic.promote_through_gate(system, second)
    rows = traffic.client_rows(system, at_least=_serving_rows(system))
    with traffic.serving(system) as url:
        traffic.wait_for(url, second, wait=4 * system.config.serve.poll_seconds + 30)
        traffic.send(url, rows)
    served = traffic.keep_served(copy)
    labels = traffic.write_labels(copy, system)
    _mark(
        copy,
        "served",
        champion=second,
        earlier=first,
        served_rows=served,
        labels=str(labels) if labels else None,
        gate_passed=gated,
    )


def _champion(copy: Copy) -> Any:
    from keel.registry.versions import champion
    from keel.training import registry_ref

    version = champion(registry_ref(traffic.system_of(copy)))
    if version is None:
        raise NotApplicable("the setup left no champion in the copy's registry")
    return version


def canary_policy(section: Any) -> Any:
    """`[canary]` as the policy `keel canary status --decide` judges with."""
    from dataclasses import fields

    from keel.serve.canary import CanaryPolicy

    renamed = {"window_seconds": "window", "deadline_seconds": "deadline"}
    return CanaryPolicy(
        **{f.name: getattr(section, renamed.get(f.name, f.name)) for f in fields(CanaryPolicy)}
    )


def _canary(system: Any, url: str, candidate: int) -> tuple[bool, dict[str, Any]]:
    """A real canary of `candidate` against the champion on the server at `url`: half the
    example ids routed to it, evaluation rows sent until both routes served `[canary]
    min_requests`, judged on what the server logged as `keel canary status --decide` judges it
    once `[canary] window` is over, and recorded (pass or abort). (passed, the report)."""
    from keel.log.read import served_rows
    from keel.registry.canary import end_canary, start_canary
    from keel.serve.canary import judge_canary
    from keel.training import registry_ref

    ref, cfg = registry_ref(system), system.config.canary
    state = start_canary(
        ref, candidate, CANARY_SHARE, who=traffic.SELFTEST, reason=traffic.SELFTEST
    )
    traffic.wait_for(url, state.champion, candidate, wait=4 * system.config.serve.poll_seconds + 30)
    wanted = max(1000, int(3 * cfg.min_requests / CANARY_SHARE))
    traffic.send(url, traffic.client_rows(system, at_least=wanted, at_most=wanted))
    started = dt.datetime.fromisoformat(state.started)
    over = max(dt.datetime.now(dt.UTC), started + dt.timedelta(seconds=cfg.window))
    report = judge_canary(
        served_rows(system.root / system.config.data.serving_log, since=state.started),
        state,
        canary_policy(system.config.canary),
        task=system.task,
        metric=system.metric_name,
        labels=None,
        labels_expected=False,
        now=over,
    )
    passed = report.decision == "promote"
    end_canary(ref, passed, report.to_dict(), who=traffic.SELFTEST, reason=traffic.SELFTEST)
    return passed, report.to_dict()


def setup_operated(copy: Copy) -> None:
    """infra.6 and infra.7's setup: a first version promoted, a second through a real canary
    and promoted, then a real rollback drill of it, recorded."""
    from keel.serve.drill import rollback_drill
    from keel.training import gate_inputs, registry_ref

    if _once(copy, "operated"):
        return
    system = traffic.system_of(copy)
    _servable(system)
    first = traffic.register(system)
    traffic.promote_through_gate(system, first)
    second = traffic.register(system)
    poll = 4 * system.config.serve.poll_seconds + 30
    with traffic.serving(system) as url:
        traffic.wait_for(url, first, wait=poll)
        passed, report = _canary(system, url, second)
        traffic.promote_through_gate(system, second, reason="canary passed")
        traffic.wait_for(url, second, wait=poll)
        cfg = system.config.drill
        drill = rollback_drill(
            registry_ref(system),
            url,
            traffic.client_rows(system, at_most=100),
            concurrency=cfg.concurrency,
            load_seconds=cfg.load_seconds,
            max_seconds=cfg.max_seconds,
            gate=gate_inputs(system),
            who=traffic.SELFTEST,
        )
    _mark(
        copy,
        "operated",
        champion=second,
        earlier=first,
        canary_passed=passed,
        canary_reasons=report.get("reasons", []),
        drill_passed=bool(drill.passed and drill.restored),
    )


# -- monitor.1 … monitor.7 ---------------------------------------------------------------


def plant_changed_dependency(copy: Copy) -> None:
    """monitor.1: the serving version's recorded environment names another version of one
    package (numpy when it is there) than the one installed where it serves now."""
    version = _champion(copy)
    lineage = dict(version.lineage)
    if lineage.get("environment"):
        packages = dict(lineage["environment"])
        name = "numpy" if "numpy" in packages else sorted(packages)[0]
        packages[name] = "0.0.1"
        lineage["environment"] = packages
    elif lineage.get("requirements"):
        pins = list(lineage["requirements"])
        name = pins[0].partition("==")[0]
        pins[0] = f"{name}==0.0.1"
        lineage["requirements"] = pins
    else:
        raise NotApplicable("the serving version recorded no packages to change")
    traffic.set_lineage(traffic.system_of(copy), version.version, lineage)
    copy.notes["planted"] = f"version {version.version} trained with {name} 0.0.1"


def _bad_value(feature: Any) -> Any:
    """A value of the wrong type for a schema feature: what a broken producer sends."""
    return 12345 if feature.type == "string" else "not-a-value"


def plant_invalid_rows(copy: Copy) -> None:
    """monitor.2: served rows that break the schema: one required input (the first the schema
    lists that is no id, timestamp or sensitive column, when there is one) of the wrong type,
    in a tenth as many rows as were served, sent to a real server."""
    from keel.checks._edge_probes import load_schema_of
    from keel.serve.validation import serving_features

    system = traffic.system_of(copy)
    schema = load_schema_of(system)
    if schema is None:
        raise NotApplicable("no schema file ([data] schema): the server validates nothing")
    roles = set(system.role_columns())
    required = [
        (n, f)
        for n, f, needed in serving_features(schema)
        if needed and f.type != "other" and f.pii == "none"
    ]
    if not required:
        raise NotApplicable("the schema has no required serving input to break")
    # a model's input rather than the id or the timestamp, when the schema requires one
    name, feature = sorted(required, key=lambda item: item[0] in roles)[0]
    rows = traffic.client_rows(system, at_least=20)
    count = max(20, int(INVALID_SHARE * len(traffic.served_records(copy))))
    bad = [{**row, name: _bad_value(feature)} for row in (rows * count)[:count]]
    with traffic.serving(system) as url:
        traffic.send(url, bad)
    copy.notes["planted"] = f"{count} rows with {name} = {_bad_value(feature)!r}"


def _numeric_model_input(records: list[dict[str, Any]], skip: set[str]) -> str:
    """The first model input every record logged as a number (not a boolean)."""
    names = list((records[0].get("model_inputs") or {}) if records else {})
    for name in names:
        if name in skip:
            continue
        values = [(r.get("model_inputs") or {}).get(name) for r in records]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return name
    raise NotApplicable("no model input was logged as a number in every served row")


def _copies(records: list[dict[str, Any]], tag: str, count: int) -> list[dict[str, Any]]:
    """`count` records made from `records` (cycling), each its own request."""
    out = []
    for i in range(count):
        record = json.loads(json.dumps(records[i % len(records)]))
        record["request_id"] = f"selftest-{tag}-{i}"
        record["row"] = 0
        out.append(record)
    return out


def plant_skew(copy: Copy) -> None:
    """monitor.3: a skew bug in the serving path: as many served records again, whose first
    numeric model input is not what the feature code computes from their raw inputs (scaled
    by 1.5 and shifted by 1, as a unit or offset bug upstream of the model would)."""
    from keel.checks._monitor_inputs import skew_rules

    records = traffic.served_records(copy, _champion(copy).version)
    name = _numeric_model_input(records, skew_rules(traffic.system_of(copy)).skip)
    planted = _copies(records, "skew", int(SKEWED_ROWS * len(records)))
    for record in planted:
        record["model_inputs"][name] = float(record["model_inputs"][name]) * 1.5 + 1.0
    traffic.append_records(copy, planted)
    copy.notes["planted"] = f"{len(planted)} served rows with {name} × 1.5 + 1"


def plant_stale(copy: Copy) -> None:
    """monitor.4: the serving version's training data ended twice model.4's age limit ago
    (plus 30 days): a model left serving long after it should have been retrained."""
    system = traffic.system_of(copy)
    if system.config.system.timestamp is None:
        raise NotApplicable("no [system] timestamp: the age of the training data is unknown")
    version = _champion(copy)
    limit = version.lineage.get("staleness_limit_days")
    if limit is None:
        raise NotApplicable("model.4 gave no staleness limit for the serving version")
    lineage = json.loads(json.dumps(version.lineage))
    newest = dt.datetime.now(dt.UTC) - dt.timedelta(days=2 * float(limit) + 30)
    lineage.setdefault("data", {}).setdefault("train", {})["newest"] = newest.isoformat()
    traffic.set_lineage(system, version.version, lineage)
    copy.notes["planted"] = f"training data ending {newest.date()} (limit {limit:g} days)"


def plant_nan_outputs(copy: Copy) -> None:
    """monitor.5: served rows whose outputs are NaN, logged as the server logs them (values
    as null, the fields listed in `nonfinite`): a tenth as many as were served, at least 10."""
    records = traffic.served_records(copy, _champion(copy).version)
    planted = _copies(records, "nan", max(10, int(NAN_SHARE * len(records))))
    for record in planted:
        probabilities = record.get("probabilities")
        if probabilities:
            record["probabilities"] = dict.fromkeys(probabilities)
            record["nonfinite"] = [f"outputs.proba_{c}:nan" for c in probabilities]
        else:
            record["prediction"] = None
            record["nonfinite"] = ["outputs.prediction:nan"]
    traffic.append_records(copy, planted)
    copy.notes["planted"] = f"{len(planted)} served rows with NaN outputs"


def plant_latency_creep(copy: Copy) -> None:
    """monitor.6: the serving version served the same rows in the windows before at a
    quarter, a half and three quarters of its latency now: a creep over time."""
    system = traffic.system_of(copy)
    seconds = system.config.monitor.window
    records = traffic.served_records(copy, _champion(copy).version)
    planted = []
    for back, factor in zip(range(len(CREEP), 0, -1), CREEP, strict=True):
        for record in _copies(records, f"creep{back}", len(records)):
            then = dt.datetime.fromisoformat(record["time"]) - dt.timedelta(seconds=back * seconds)
            record["time"] = then.isoformat()
            record["latency_seconds"] = float(record["latency_seconds"]) * factor
            planted.append(record)
    traffic.append_records(copy, planted)
    copy.notes["planted"] = f"{len(CREEP)} earlier windows at {', '.join(map(str, CREEP))}× latency"


def plant_wrong_labels(copy: Copy) -> None:
    """monitor.7: the late labels of 30% of the served rows say what the model did not
    predict (the next class; for a regression, another row's value): quality drops on
    labelled served data."""
    import pandas as pd

    system = traffic.system_of(copy)
    path = copy.root / traffic.SCRATCH / traffic.LABELS
    if not path.is_file():
        raise NotApplicable("no [system] id: late labels cannot join the served rows")
    frame = pd.read_parquet(path)
    target = system.config.system.target
    rng = np.random.default_rng(22)
    wrong = rng.random(len(frame)) < WRONG_LABELS
    values = frame[target].to_numpy(copy=True)
    if system.task == "regression":
        values[wrong] = rng.permutation(values[wrong])
    else:
        classes = sorted(pd.unique(frame[target]).tolist())
        if len(classes) < 2:
            raise NotApplicable("the labels hold one class only")
        after = {c: classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
        values[wrong] = [after[v] for v in values[wrong]]
    frame[target] = values
    frame.to_parquet(path, index=False)
    copy.notes["planted"] = f"{int(wrong.sum())} of {len(frame)} late labels wrong"


# -- why a check could not see its fault here -------------------------------------------


def weak_without_labels(clean: dict[str, Any], faulty: dict[str, Any]) -> str | None:
    """monitor.7 missed wrong labels: no window held `[monitor] min_labels` labelled rows."""
    if not faulty.get("judged_by_labels"):
        return "no recent window held [monitor] min_labels labelled served rows"
    return None


def weak_without_windows(clean: dict[str, Any], faulty: dict[str, Any]) -> str | None:
    """monitor.2/monitor.3 missed their fault: no window held `[monitor] min_rows` rows."""
    if not faulty.get("windows_judged"):
        return "no window of served traffic held [monitor] min_rows rows"
    return None


# -- infra.6, infra.7 --------------------------------------------------------------------


def plant_promotion_without_canary(copy: Copy) -> None:
    """infra.6: a new version (the same model, registered again) promoted straight through
    the gate, with no canary before it."""
    system = traffic.system_of(copy)
    version = traffic.register(system)
    traffic.promote_through_gate(system, version)
    copy.notes["planted"] = f"version {version} promoted without a canary"


def plant_failed_drill(copy: Copy) -> None:
    """infra.7: a newer rollback drill of the champion is recorded in which 5% of the
    requests failed while the server switched (the setup's own drill, with failures)."""
    from keel.registry.drill import drills, record_drill
    from keel.training import registry_ref

    ref = registry_ref(traffic.system_of(copy))
    recorded = drills(ref)
    if not recorded:
        raise NotApplicable("the setup recorded no rollback drill to repeat")
    newest = recorded[0]
    result = dict(newest.verdict or {})
    requests = int(result.get("requests") or 100)
    result["failed"] = max(1, int(FAILED_REQUESTS * requests))
    result["errors"] = ["HTTP 503: no model ready while switching (planted by keel selftest)"]
    result["passed"] = False
    record_drill(
        ref, result, version=newest.version, previous=newest.previous, who=traffic.SELFTEST
    )
    copy.notes["planted"] = f"a drill with {result['failed']} of {requests} requests failed"


FAULTS: list[Fault] = [
    Fault("monitor.1", "a changed dependency", plant_changed_dependency, setup_served,
          key="monitor.1-changed-dependency"),
    Fault("monitor.2", "invalid served rows", plant_invalid_rows, setup_served,
          weak_without_windows, key="monitor.2-invalid-rows"),
    Fault("monitor.3", "a skew bug in served features", plant_skew, setup_served,
          weak_without_windows, key="monitor.3-skew"),
    Fault("monitor.4", "a stale model", plant_stale, setup_served, key="monitor.4-stale"),
    Fault("monitor.5", "NaN outputs", plant_nan_outputs, setup_served, key="monitor.5-nan"),
    Fault("monitor.6", "a latency creep", plant_latency_creep, setup_served,
          key="monitor.6-latency-creep"),
    Fault("monitor.7", "a quality drop on late labels", plant_wrong_labels, setup_served,
          weak_without_labels, key="monitor.7-wrong-labels"),
    Fault("infra.6", "a promotion without canary", plant_promotion_without_canary,
          setup_operated, key="infra.6-no-canary"),
    Fault("infra.7", "a drill that fails", plant_failed_drill, setup_operated,
          key="infra.7-failed-drill"),
]  # fmt: skip

# The order in which the runner may plant these faults in turn on one set-up copy (each check
# still passes before its own fault): the setups cost a training, a server and a canary.
IN_TURN = {
    "setup_served": [
        "monitor.7", "monitor.5", "monitor.6", "monitor.3", "monitor.2", "monitor.1", "monitor.4",
    ],
    "setup_operated": ["infra.7", "infra.6"],
}  # fmt: skip
