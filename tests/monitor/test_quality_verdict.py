"""monitor.7's judgement from plain inputs: windows the intake kept rows of, labels, limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from monitor_states import state, version, window

from keel.monitor.online import Labels
from keel.monitor.outputs import keep_outputs
from keel.monitor.quality import Limits
from keel.monitor.quality_verdict import QualityInputs, judge_quality

DAY = 86_400.0


def _serve(tmp_path, day: int, truth: np.ndarray, predicted: np.ndarray, name: str) -> None:
    """Rows served on `day` of November, kept as the intake keeps them."""
    n = len(truth)
    table = pa.table(
        {
            "request_id": [f"{name}-{i}" for i in range(n)],
            "row": [0] * n,
            "example_id": [f"{name}-{i}" for i in range(n)],
            "time": [f"2026-11-{day:02d}T{i % 24:02d}:00:00+00:00" for i in range(n)],
            "route": ["champion"] * n,
            "prediction": predicted.astype(float),
            "latency_seconds": [0.001] * n,
        }
    )
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    keep_outputs(tmp_path / "state", path, name, 1, DAY)


def _inputs(tmp_path, labels: pd.Series | None, windows, offline=0.9) -> QualityInputs:
    champion = version(1)
    taken = state(windows, champion, root=tmp_path)
    return QualityInputs(
        state=taken,
        limits=Limits("regression", "r2", 0.02, 200, 100, 0.1),
        labels=Labels("fixed" if labels is not None else "none", lambda: labels),
        labels_arrived=labels is not None,
        labels_note="",
        id_column="uid",
        offline={1: offline},
        references={},
        calibration=None,
    )


@pytest.mark.parametrize("drifted", [False, True])
def test_a_regression_is_judged_on_its_late_labels_against_its_offline_metric(tmp_path, drifted):
    rng = np.random.default_rng(0)
    labels = {}
    for day, name in ((1, "a"), (2, "b")):
        truth = rng.normal(size=600)
        noise = 1.5 if drifted and day == 2 else 0.3
        _serve(tmp_path, day, truth, truth + rng.normal(0, noise, 600), name)
        labels |= {f"{name}-{i}": v for i, v in enumerate(truth)}
    windows = [window(f"2026-11-0{d}T00:00:00+00:00", 1, 600) for d in (1, 2)]
    evidence = judge_quality(_inputs(tmp_path, pd.Series(labels), windows))
    assert evidence.facts["judged_by_labels"] == 2, evidence.summary
    if drifted:
        assert evidence.status == "fail" and "2026-11-02" in evidence.summary
    else:
        assert evidence.status == "pass", evidence.summary


def test_labels_that_join_no_served_row_fail_naming_both_sides(tmp_path):
    rng = np.random.default_rng(1)
    truth = rng.normal(size=300)
    _serve(tmp_path, 1, truth, truth, "a")
    labels = pd.Series(truth, index=[f"X-{i}" for i in range(300)])
    evidence = judge_quality(
        _inputs(tmp_path, labels, [window("2026-11-01T00:00:00+00:00", 1, 300)])
    )
    assert evidence.status == "fail" and "none joins" in evidence.summary
    assert "'X-0'" in evidence.summary and "'a-0'" in evidence.summary


def test_nothing_served_is_not_configured(tmp_path):
    evidence = judge_quality(_inputs(tmp_path, None, []))
    assert evidence.status == "not_configured"
