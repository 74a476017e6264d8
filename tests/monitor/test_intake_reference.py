"""The intake's summaries (the roll's columnar parse, the distinct-value personal-data scan,
one profile for identical inputs, summaries in a thread of their own) equal a straightforward
reference computed row by row from the records themselves: profiles, personal data, counts."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
from served_logs import DAY, write_log

from keel.data import pii
from keel.data.profile import Profile, profile_batches
from keel.monitor.intake import intake, load_windows

ROWS = 190  # under the quantile sketch's k: its contents do not depend on the order of updates


def _records(same_inputs: bool) -> list[dict]:
    """Rows with nulls, a non-finite value logged as null, unicode, categories, personal data
    in 1% of a text column, an integer input and an input absent from some rows."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(ROWS):
        note = ["ok", "grün", "東京", "fine", None][i % 5]
        if i in (17, 101):
            note = ["write to zoë@example.org", "call +1-415-555-0199"][i == 101]
        inputs = {
            "amount": None if i % 11 == 0 else round(float(rng.normal(50, 10)), 4),
            "age": int(rng.integers(18, 90)),
            "city": ["Zürich", "Paris", "Lyon"][i % 3],
            "note": note,
            "score": None if i == 40 else float(rng.normal()),  # row 40: NaN, logged as null
        }
        model = dict(inputs) if same_inputs else {"amount": inputs["amount"], "city_id": i % 3}
        out.append(
            {
                "request_id": f"r{i}",
                "row": 0,
                "example_id": f"e{i}",
                "time": f"2026-11-01T{i % 24:02d}:{i % 60:02d}:00+00:00",
                "model_version": 1,
                "route": "champion",
                "inputs": inputs,
                "model_inputs": model,
                "prediction": ["yes", "no"][i % 2],
                "probabilities": {"no": 0.25 + (i % 3) / 10, "yes": 0.75 - (i % 3) / 10},
                "latency_seconds": 0.001 * (1 + i % 7),
                "anomalies": ["rows[0].age: expected a number ≤ 80, got 85"] if i % 9 == 0 else [],
                "nonfinite": ["inputs.score"] if i == 40 else [],
            }
        )
    return out


def _table(rows: list[dict]) -> pa.Table:
    """Rows as a table, a column that is null in every row typed as text (as the intake's)."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns = {n: pa.array([r.get(n) for r in rows]) for n in names}
    return pa.table(
        {
            n: pa.nulls(len(rows), pa.string()) if c.type == pa.null() else c
            for n, c in columns.items()
        }
    )


def _found(where: str, table: pa.Table) -> dict:
    out: dict = {}
    for f in pii.scan(table, sample=table.num_rows, distinct=False):
        if f.kind != "name_like_column":
            out.setdefault(f"{where}.{f.column}", {})[f.kind] = {
                "matches": f.matches,
                "example": f.example,
            }
    return out


def _profile(table: pa.Table, source: str) -> dict:
    return _comparable(profile_batches(table, source=source))


def _comparable(profile: Profile) -> dict:
    """A profile's statistics and sketches, the frequent values as their sorted counts (the
    sketch's bytes follow the order its hash map was filled in, not only what it holds)."""
    out = profile.to_dict(summary=False)
    for name, column in out["columns"].items():
        if column.get("sketches", {}).get("frequent") is not None:
            column["sketches"]["frequent"] = sorted(profile.columns[name].frequent_items())
    return out


def _check(tmp_path, same_inputs: bool) -> None:
    records = _records(same_inputs)
    write_log(tmp_path / "log", records, segment_bytes=20_000)
    run = intake(tmp_path / "log", tmp_path / "state", window_seconds=DAY)
    ((_, summary),) = load_windows(tmp_path / "state").items()
    inputs = _table([r["inputs"] for r in records])
    model = _table([r["model_inputs"] for r in records])
    outputs = pa.table(
        {
            "prediction": [r["prediction"] for r in records],
            "proba_no": [r["probabilities"]["no"] for r in records],
            "proba_yes": [r["probabilities"]["yes"] for r in records],
            "latency_seconds": [r["latency_seconds"] for r in records],
        }
    )
    assert run.rows == summary.rows == ROWS and summary.errors == summary.rejected == 0
    got = {n: _comparable(getattr(summary, n)) for n in ("inputs", "model_inputs")}
    for d in got.values():
        d["batches"] = 1  # how the parts' rows were cut into batches is not a statistic
    assert got["inputs"] == _profile(inputs, "inputs")
    assert got["model_inputs"] == _profile(model, "model_inputs")
    reference_outputs = _profile(outputs, "outputs")
    reference_outputs["batches"] = summary.outputs.batches
    assert _comparable(summary.outputs) == reference_outputs
    pii_ref = _found("inputs", inputs) | _found("model_inputs", model)
    assert summary.pii == pii_ref and "inputs.note" in summary.pii
    values = {
        f"{w}.{c}": ROWS - t.column(c).null_count
        for w, t in (("inputs", inputs), ("model_inputs", model))
        for c in t.column_names
    }
    assert summary.pii_values == values and summary.pii_rows == ROWS
    assert summary.nonfinite == {"inputs.score": 1}
    assert summary.anomalies == {"age": len(range(0, ROWS, 9))}
    assert json.dumps(summary.to_dict())  # stored as it is


def test_summaries_equal_a_row_by_row_reference_when_inputs_and_model_inputs_are_one(tmp_path):
    _check(tmp_path, same_inputs=True)


def test_summaries_equal_a_row_by_row_reference_when_the_model_inputs_differ(tmp_path):
    _check(tmp_path, same_inputs=False)
