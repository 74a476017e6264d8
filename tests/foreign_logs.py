"""Served traffic of a registered system written as other servers write it (a table, SageMaker
Data Capture, BentoML's monitoring log), with the faults monitor.3, 5 and 7 must catch: for the
end-to-end tests of `[serving]` (tests/checks/test_foreign_<format>.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from health_systems import register, serve
from registries import variant, with_ids, write_with_ids
from threadpoolctl import threadpool_limits

from keel.data.schema import Feature, Schema, write_schema
from keel.registry.artefact import predict_raw
from keel.registry.versions import load_model
from keel.system import System
from keel.training import registry_ref

FAULTS = ("none", "skewed", "drifted", "nan_outputs", "quality_drop")


def registered(root: Path) -> tuple[System, Any]:
    """A binary system with feature code, a schema and ids, its version 1 the champion."""
    path = write_with_ids(root)
    write_schema(
        Schema(
            features={
                "uid": Feature(type="string", absent_in=["serving"]),
                "x1": Feature(type="float"),
                "x2": Feature(type="float"),
                "group": Feature(type="string", domain=["a", "b", "c"]),
                "y": Feature(type="int", absent_in=["serving"]),
            }
        ),
        root / "credit" / "keel.schema.yaml",
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        version = register(system)
    serve(system, version.version)
    return system, version


def traffic(system: System, fault: str, n: int = 400) -> list[pd.DataFrame]:
    """Two days of served rows (uid, x1, x2, group, y, proba, time), with `fault` planted:
    "skewed" (x1 shifted from training on both days), "drifted" (day 2's group mostly "a"
    and x1 moved), "nan_outputs" (NaN probabilities in 5% of day 2), "quality_drop" (40% of
    day 2's labels flipped, the world changed)."""
    model = load_model(registry_ref(system), "champion")
    days = []
    for day in (1, 2):
        frame = with_ids(n, 10 + day)
        rng = np.random.default_rng(day)
        if fault == "skewed":
            frame["x1"] = frame["x1"] + 2.0
        if fault == "drifted" and day == 2:
            frame["x1"] = frame["x1"] + 1.0
            frame["group"] = np.where(rng.random(n) < 0.9, "a", frame["group"])
        proba = predict_raw(model, frame.drop(columns=["uid", "y"]))["proba_1"].to_numpy()
        if fault == "nan_outputs" and day == 2:
            proba = np.where(np.arange(n) % 20 == 0, np.nan, proba)
        if fault == "quality_drop" and day == 2:
            flip = rng.random(n) < 0.4
            frame["y"] = np.where(flip, 1 - frame["y"], frame["y"])
        frame["proba"] = proba
        frame["time"] = [f"2026-11-{day:02d}T{i % 24:02d}:{i % 60:02d}:00" for i in range(n)]
        days.append(frame)
    return days


def labels_of(days: list[pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "labels.parquet"
    pd.concat(days)[["uid", "y"]].to_parquet(path)
    return path


def scenario(base: System, name: str, serving: dict[str, Any], labels: Path) -> System:
    """The base system reading its served traffic from `serving` into a log of its own."""
    return variant(
        base,
        data={"serving_log": f".keel/logs-{name}", "labels": str(labels)},
        serving=serving,
    )


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")


def prediction(proba: float) -> Any:
    return None if proba != proba else int(proba > 0.5)


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")


# -- SageMaker Data Capture ------------------------------------------------------------------


def capture_line(row: dict[str, Any], *, csv_input: bool = True) -> dict[str, Any]:
    """One captured request as SageMaker writes it: a CSV (or JSON) row in, JSON out."""
    p = float(row["proba"])
    if csv_input:
        given = {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": f"{row['x1']},{row['x2']},{row['group']}",
            "encoding": "CSV",
        }
    else:
        instance = {"x1": row["x1"], "x2": row["x2"], "group": row["group"]}
        given = {
            "observedContentType": "application/json",
            "mode": "INPUT",
            "data": json.dumps({"instances": [instance]}),
            "encoding": "JSON",
        }
    answer = {"predictions": [{"predicted_label": prediction(p), "probabilities": [1 - p, p]}]}
    return {
        "captureData": {
            "endpointInput": given,
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": json.dumps(answer),
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": f"ev-{row['uid']}",
            "inferenceId": row["uid"],
            "inferenceTime": row["time"] + "Z",
        },
        "eventVersion": "0",
    }


def write_capture(days: list[pd.DataFrame], root: Path, variant: str = "AllTraffic") -> Path:
    """Capture files in SageMaker's layout: <endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl."""
    for frame in days:
        for hour, rows in frame.groupby(frame["time"].str[11:13]):
            stamp = rows["time"].iloc[0]
            folder = root / "credit-endpoint" / variant / stamp[:4] / stamp[5:7] / stamp[8:10]
            lines = [capture_line(r, csv_input=i % 2 == 0) for i, r in enumerate(rows_of(rows))]
            write_jsonl(folder / str(hour) / f"12-00-000-{variant}.jsonl", lines)
    return root


# -- a table a service writes ---------------------------------------------------------------


def write_table(days: list[pd.DataFrame], folder: Path, *, model_inputs: bool = True) -> None:
    """One Parquet file per day, as a service's own request log."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, day in enumerate(days, start=1):
        out = pd.DataFrame(
            {
                "served_at": day["time"],
                "uid": day["uid"],
                "x1": day["x1"],
                "x2": day["x2"],
                "group": day["group"],
                "label": [prediction(p) for p in day["proba"]],
                "proba": [json.dumps({"0": 1 - p, "1": p}) for p in day["proba"]],
                "took_ms": 2.0,
            }
        )
        if model_inputs:
            out["features"] = [
                json.dumps({"x1": a, "x2": b, "group": g, "x1_x2": a * b})
                for a, b, g in zip(day["x1"], day["x2"], day["group"], strict=True)
            ]
        out.to_parquet(folder / f"requests-{k}.parquet")


# -- BentoML's monitoring output, as BentoML 1.4 writes it (tests/bentoml_server.py runs it) ---


def write_bentoml(days: list[pd.DataFrame], folder: Path) -> Path:
    """`<folder>/data/data.0.log` and `<folder>/schema/schema.0.log` of one monitor."""
    roles = [("uid", "id"), ("x1", "feature"), ("x2", "feature"), ("group", "feature")]
    roles += [("prediction", "prediction"), ("probabilities", "prediction")]
    columns = [{"name": n, "role": r, "type": "numerical"} for n, r in roles]
    write_jsonl(folder / "schema" / "schema.0.log", [{"meta_data": {}, "columns": columns}])
    lines = [
        {
            "uid": r["uid"],
            "x1": r["x1"],
            "x2": r["x2"],
            "group": r["group"],
            "prediction": prediction(r["proba"]),
            "probabilities": {"0": 1 - r["proba"], "1": r["proba"]},
            "timestamp": r["time"],
            "request_id": str(i),
            "trace_id": str(i),
        }
        for i, r in enumerate(rows_of(pd.concat(days)))
    ]
    write_jsonl(folder / "data" / "data.0.log", lines)
    return folder
