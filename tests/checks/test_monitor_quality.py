"""monitor.7 and model.2 on real registered versions, real prediction logs and Parquet labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from registries import WEAK, variant, with_ids, write_with_ids
from threadpoolctl import threadpool_limits

from keel.checks._online import OnlineInterval, labels, ranks_agree
from keel.checks.model import model_2
from keel.checks.monitor import monitor_7
from keel.log.read import served_rows
from keel.log.writer import PredictionLog, segments_dir
from keel.registry.artefact import predict_raw
from keel.registry.canary import end_canary, start_canary
from keel.registry.promotion import promote
from keel.registry.versions import load_model
from keel.serve.canary import CanaryPolicy, judge_canary
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register

# the champion's probabilities close enough to calibrated for CBPE on this data (ECE about
# 0.03, estimated ROC AUC within 0.01 of the actual); the default settings are overconfident
CALIBRATED = {"params": {"max_iter": 100, "max_depth": 2}}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> System:
    root = tmp_path_factory.mktemp("quality")
    path = write_with_ids(root)
    with threadpool_limits(1):
        system = System.from_path(path)
        system.trained  # noqa: B018
    return system


def scenario(
    base: System, name: str, labels: pd.DataFrame | None = None, data: dict | None = None, **more
) -> System:
    """The base system registering as `name`, with its own prediction log and labels (and
    `data`'s other [data] keys)."""
    data = {"serving_log": f".keel/logs-{name}", "labels": None, **(data or {})}
    if labels is not None:
        labels.to_parquet(base.root / "data" / f"labels-{name}.parquet")
        data["labels"] = f"data/labels-{name}.parquet"
    return variant(base, data=data, registry={"model": name}, **more)


def champion_of(base: System, name: str, **model) -> int:
    trained = variant(base, registry={"model": name}, **({"model": model} if model else {}))
    version = train_and_register(trained).version
    assert promote(registry_ref(trained), version, gate_inputs(base)).promoted
    return version


def log(system: System, frame: pd.DataFrame, proba: np.ndarray, version: int, day: int) -> None:
    """Served records of `frame`'s rows with positive-class probabilities `proba`."""
    records = [
        {
            "request_id": f"{uid}-{day}",
            "row": 0,
            "example_id": uid,
            "time": f"2026-11-{day:02d}T{(i % 24):02d}:{(i // 24) % 60:02d}:00+00:00",
            "model_version": version,
            "route": "champion",
            "inputs": {"x1": float(x1)},
            "model_inputs": {"x1": float(x1)},
            "prediction": int(p > 0.5),
            "probabilities": {"0": float(1 - p), "1": float(p)},
            "latency_seconds": 0.002,
        }
        for i, (uid, x1, p) in enumerate(zip(frame["uid"], frame["x1"], proba, strict=True))
    ]
    root = system.root / system.config.data.serving_log
    with PredictionLog(segments_dir(root), segment_bytes=500_000) as out:
        for start in range(0, len(records), 50):
            out.append(records[start : start + 50])


def served_proba(
    system: System, frame: pd.DataFrame, version: int | str = "champion"
) -> np.ndarray:
    model = load_model(registry_ref(system), version)
    return predict_raw(model, frame)["proba_1"].to_numpy(dtype=float)


# -- monitor.7 -------------------------------------------------------------------------------
@pytest.mark.parametrize("broken", [False, True])
def test_monitor_7_with_labels_fails_on_a_drop_below_the_offline_metric(base, broken):
    name = f"m7-labels-{broken}"
    version = champion_of(base, name)
    served = with_ids(1000, 7)
    labels = served[["uid", "y"]].copy()
    if broken:  # the world changed on day 2: 40% of its labels flipped
        flip = np.arange(len(labels)) >= 500
        flip &= np.random.default_rng(1).random(len(labels)) < 0.4
        labels.loc[flip, "y"] = 1 - labels.loc[flip, "y"]
    system = scenario(base, name, labels)
    proba = served_proba(system, served)
    log(system, served.iloc[:500], proba[:500], version, 1)
    log(system, served.iloc[500:], proba[500:], version, 2)
    evidence = monitor_7(system)
    assert evidence.facts["judged_by_labels"] == 2
    if broken:
        assert evidence.status == "fail"
        assert "2026-11-02" in evidence.summary and f"v{version}" in evidence.summary
        assert "online against" in evidence.summary
    else:
        assert evidence.status == "pass", evidence.summary
    assert evidence.figures and evidence.figures[0].reference


@pytest.mark.parametrize("uncertain", [False, True])
def test_monitor_7_without_labels_fails_when_confidence_collapses(base, uncertain):
    name = f"m7-cbpe-{uncertain}"
    version = champion_of(base, name, **CALIBRATED)
    system = scenario(base, name)
    served = with_ids(800, 9)
    proba = served_proba(system, served)
    if uncertain:  # the same classes, with far less confidence
        proba = 0.5 + 0.15 * (proba - 0.5)
    log(system, served, proba, version, 3)
    evidence = monitor_7(system)
    assert "ece" in evidence.facts and "calibrated" in evidence.summary
    if uncertain:
        assert evidence.status == "fail" and "estimated roc_auc dropped" in evidence.summary
    else:
        assert evidence.status == "pass", evidence.summary
        assert "Set [data] labels" in evidence.hint


def test_monitor_7_keeps_its_reference_on_the_evaluation_data_until_those_rows_change(base):
    """The champion's predictions on the evaluation rows (monitor.7's reference and CBPE's
    calibration) are kept across runs; new evaluation rows are predicted again."""
    name = "m7-kept-reference"
    version = champion_of(base, name, **CALIBRATED)
    own_eval = base.root / "data" / f"eval-{name}.parquet"
    with_ids(800, 1).to_parquet(own_eval)
    system = scenario(base, name, data={"eval": f"data/{own_eval.name}"})
    served = with_ids(800, 9)
    log(system, served, served_proba(system, served), version, 3)
    kept = base.cache.folder
    before = set(kept.glob("monitor7-reference-*.pkl"))
    first = monitor_7(system)
    made = set(kept.glob("monitor7-reference-*.pkl")) - before
    assert len(made) == 1
    again = monitor_7(scenario(base, name, data={"eval": f"data/{own_eval.name}"}))
    assert set(kept.glob("monitor7-reference-*.pkl")) - before == made  # reused
    assert (again.status, again.summary) == (first.status, first.summary)
    with_ids(600, 4).to_parquet(own_eval)  # new evaluation rows
    changed = monitor_7(scenario(base, name, data={"eval": f"data/{own_eval.name}"}))
    assert len(set(kept.glob("monitor7-reference-*.pkl")) - before) == 2
    assert changed.facts["ece"] != first.facts["ece"]


def test_monitor_7_fails_when_configured_labels_join_no_served_row(base):
    name = "m7-unjoined"
    version = champion_of(base, name)
    served = with_ids(600, 15)
    labels = served[["uid", "y"]].assign(uid="X-" + served["uid"])  # another spelling of ids
    system = scenario(base, name, labels)
    log(system, served, served_proba(system, served), version, 6)
    evidence = monitor_7(system)
    assert evidence.status == "fail", evidence.summary
    assert "600 labels but none joins" in evidence.summary
    assert "[system] id = 'uid'" in evidence.summary and "'X-s15-0'" in evidence.summary
    assert evidence.facts["labels_joined"] == 0


def test_monitor_7_without_labels_is_no_pass_on_poorly_calibrated_probabilities(base):
    name = "m7-uncalibrated"
    version = champion_of(base, name, **WEAK)  # two shallow steps: timid probabilities
    system = scenario(base, name)
    served = with_ids(800, 17)
    log(system, served, served_proba(system, served), version, 7)
    evidence = monitor_7(system)
    assert evidence.facts["poorly_calibrated"], evidence.summary
    assert evidence.status == "not_configured", evidence.summary
    assert "poorly calibrated" in evidence.summary and "CalibratedClassifierCV" in evidence.hint


# -- model.2 ---------------------------------------------------------------------------------
def three_versions(base: System, name: str) -> tuple[System, list[int]]:
    """Three registered versions (strong, medium, weak offline) of the model `name`."""
    versions = []
    for model in ({}, {"params": {"max_iter": 4}}, WEAK):
        trained = variant(base, registry={"model": name}, **({"model": model} if model else {}))
        versions.append(train_and_register(trained).version)
    return variant(base, registry={"model": name}), versions


@pytest.mark.parametrize("agree", [True, False])
def test_model_2_correlates_offline_and_online_ranks_across_versions(base, agree):
    name = f"m2-rank-{agree}"
    system, versions = three_versions(base, name)
    served = with_ids(1200, 11)
    truth = served_proba(system, served, versions[0])
    rng = np.random.default_rng(2)
    noise = [0.05, 0.25, 0.6] if agree else [0.6, 0.25, 0.05]  # more noise, worse online
    labels = served[["uid"]].copy()
    labels["y"] = (rng.random(len(served)) < truth).astype(int)
    system = scenario(base, name, labels)
    for k, (version, sd) in enumerate(zip(versions, noise, strict=True)):
        part = slice(400 * k, 400 * (k + 1))
        p = np.clip(truth[part] + rng.normal(0, sd, 400), 0.001, 0.999)
        log(system, served.iloc[part], p, version, 4)
    evidence = model_2(system)
    assert evidence.facts["versions"] == 3
    assert evidence.status == ("pass" if agree else "fail"), evidence.summary
    assert len(evidence.tables[0].rows) == 3 and evidence.figures


def log_route(
    system: System, frame: pd.DataFrame, version: int, route: str, when: str, made_by: int
) -> None:
    """`frame`'s rows logged as served by `version` on `route` at `when`, with the
    probabilities version `made_by` gives them."""
    proba = served_proba(system, frame, made_by)
    records = [
        {
            "request_id": f"{route}-{uid}",
            "row": 0,
            "example_id": uid,
            "time": when,
            "model_version": version,
            "route": route,
            "inputs": {"x1": float(x1)},
            "model_inputs": {"x1": float(x1)},
            "prediction": int(p > 0.5),
            "probabilities": {"0": float(1 - p), "1": float(p)},
            "latency_seconds": 0.002,
        }
        for uid, x1, p in zip(frame["uid"], frame["x1"], proba, strict=True)
    ]
    root = system.root / system.config.data.serving_log
    with PredictionLog(segments_dir(root), segment_bytes=500_000) as out:
        out.append(records)


def canaried(
    base: System, name: str, champion: dict, candidate: dict, per_route: int, swap: bool = False
) -> System:
    """`candidate` (model settings) canaried against the champion `champion` on `per_route`
    labelled rows a route, the canary passed and the candidate promoted: the system after.
    `swap`: each route served the other version's predictions (online the ranking flips)."""
    first = train_and_register(variant(base, registry={"model": name}, model=champion)).version
    second = train_and_register(variant(base, registry={"model": name}, model=candidate)).version
    ref = registry_ref(variant(base, registry={"model": name}))
    assert promote(ref, first, gate_inputs(base)).promoted
    state = start_canary(ref, second, 0.5)
    served = with_ids(2 * per_route, 21)
    system = scenario(base, name, served[["uid", "y"]])
    made = (second, first) if swap else (first, second)
    log_route(system, served.iloc[:per_route], first, "champion", state.started, made[0])
    log_route(system, served.iloc[per_route:], second, "canary", state.started, made[1])
    rows = served_rows(system.root / system.config.data.serving_log)
    report = judge_canary(
        rows, state, CanaryPolicy(), task="binary", metric="roc_auc", labels=labels(system)
    )
    end_canary(ref, True, report.to_dict())
    assert promote(ref, second, gate_inputs(base)).promoted
    return scenario(base, name, served[["uid", "y"]])


def test_model_2_passes_when_the_canary_tells_the_offline_gain_apart_from_zero_online(base):
    evidence = model_2(canaried(base, "m2-canary-agree", WEAK, {}, per_route=600))
    assert evidence.status == "pass", evidence.summary
    low, high = evidence.facts["online_interval"]
    assert evidence.facts["offline_difference"] > 0 and low > 0
    assert "canary" in evidence.summary and evidence.facts["canary_event"]


def test_model_2_fails_when_the_canary_ranks_the_versions_the_other_way(base):
    system = canaried(base, "m2-canary-disagree", WEAK, {}, per_route=600, swap=True)
    evidence = model_2(system)
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["online_interval"][1] < 0 < evidence.facts["offline_difference"]
    assert "the other way" in evidence.summary


def test_model_2_tells_apart_agreement_disagreement_and_too_wide_an_online_interval():
    assert ranks_agree(0.02, OnlineInterval(0.01, 0.05, 1000)) == ("agree", None)
    assert ranks_agree(-0.02, OnlineInterval(-0.05, -0.01, 1000)) == ("agree", None)
    assert ranks_agree(0.02, OnlineInterval(-0.05, -0.01, 1000)) == ("disagree", None)
    # narrow around zero: online shows no difference of the offline size
    assert ranks_agree(0.05, OnlineInterval(-0.01, 0.01, 1000)) == ("disagree", None)
    # holds zero and the offline difference: 0.09 wide must shrink under 0.02
    assert ranks_agree(0.02, OnlineInterval(-0.03, 0.06, 1000)) == ("unknown", 19_250)


def test_model_2_on_two_identical_versions_is_not_configured(base):
    evidence = model_2(canaried(base, "m2-canary-same", {}, {}, per_route=300))
    assert evidence.status == "not_configured", evidence.summary
    assert "same offline roc_auc" in evidence.summary and "no offline ranking" in evidence.summary


def test_model_2_with_too_few_canary_labels_to_tell_is_not_configured_with_the_labels_needed(base):
    evidence = model_2(canaried(base, "m2-canary-few", {"params": {"max_iter": 8}}, {}, 40))
    assert evidence.status == "not_configured", evidence.summary
    assert evidence.facts["agreement"] == "unknown" and evidence.facts["labelled_needed"] > 80
    assert "more labelled rows" in evidence.summary


def test_model_2_across_versions_with_the_same_offline_metric_is_not_configured(base):
    name = "m2-rank-same"
    versions = [train_and_register(variant(base, registry={"model": name})).version for _ in "abc"]
    served = with_ids(900, 13)
    system = scenario(base, name, served[["uid", "y"]])
    for k, version in enumerate(versions):
        part = served.iloc[300 * k : 300 * (k + 1)]
        log(system, part, served_proba(system, part, version), version, 5)
    evidence = model_2(system)
    assert evidence.status == "not_configured", evidence.summary
    assert "offline roc_auc is the same for all 3 versions" in evidence.summary


def test_model_2_without_labels_or_canary_is_not_configured(base):
    evidence = model_2(scenario(base, "m2-nothing"))
    assert evidence.status == "not_configured" and "[data] labels" in evidence.hint


def test_monitor_7_says_when_the_configured_labels_path_matches_no_file(base):
    name = "m7-no-file"
    version = champion_of(base, name, **CALIBRATED)
    system = scenario(base, name)
    data = system.config.data.model_copy(update={"labels": "data/label.parquet"})  # misspelt
    system = System(
        system.config.model_copy(update={"data": data}), system.root, config_file=system.config_file
    )
    served = with_ids(800, 21)
    log(system, served, served_proba(system, served), version, 3)
    evidence = monitor_7(system)
    assert "[data] labels = 'data/label.parquet' matches no file" in evidence.summary


# -- read once: judged from what the intake kept ---------------------------------------------
def _flipped(served: pd.DataFrame) -> pd.DataFrame:
    """Labels of `served` with 40% of day 2's flipped (rows 500 on)."""
    labels = served[["uid", "y"]].copy()
    flip = (np.arange(len(labels)) >= 500) & (np.random.default_rng(1).random(len(labels)) < 0.4)
    labels.loc[flip, "y"] = 1 - labels.loc[flip, "y"]
    return labels


def test_monitor_7_judges_labels_that_arrive_after_their_window_was_taken(base):
    name = "m7-late"
    version = champion_of(base, name)
    served = with_ids(1000, 21)
    path = base.root / "data" / f"labels-{name}.parquet"
    system = variant(
        base,
        data={"serving_log": f".keel/logs-{name}", "labels": str(path)},
        registry={"model": name},
    )
    proba = served_proba(system, served)
    log(system, served.iloc[:500], proba[:500], version, 1)
    log(system, served.iloc[500:], proba[500:], version, 2)
    before = monitor_7(system)
    assert before.facts["judged_by_labels"] == 0, before.summary
    _flipped(served).to_parquet(path)  # the labels arrive; no row is served meanwhile
    after = monitor_7(
        variant(
            base,
            data={"serving_log": f".keel/logs-{name}", "labels": str(path)},
            registry={"model": name},
        )
    )
    assert after.facts["judged_by_labels"] == 2, after.summary
    assert after.status == "fail" and "2026-11-02" in after.summary


def test_monitor_7_reads_neither_the_rolled_log_nor_a_window_it_judged_before(base):
    import shutil

    from keel.log.writer import rolled_dir

    name = "m7-once"
    version = champion_of(base, name)
    served = with_ids(1000, 23)
    system = scenario(base, name, _flipped(served))
    proba = served_proba(system, served)
    log(system, served.iloc[:500], proba[:500], version, 1)
    log(system, served.iloc[500:], proba[500:], version, 2)
    first = monitor_7(system)
    assert first.status == "fail" and first.facts["judged_by_labels"] == 2
    shutil.rmtree(rolled_dir(system.root / system.config.data.serving_log))
    kept = list((system.root / ".keel" / "monitor" / "taken").glob("*/outputs/*/v*/*.parquet"))
    assert kept
    for path in kept:  # same names and sizes, unreadable bytes: read again, they would fail
        path.write_bytes(b"\0" * path.stat().st_size)
    data = {"serving_log": f".keel/logs-{name}", "labels": f"data/labels-{name}.parquet"}
    again = monitor_7(variant(base, data=data, registry={"model": name}))
    assert (again.status, again.summary) == (first.status, first.summary)
