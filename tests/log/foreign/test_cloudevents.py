"""KServe/Seldon payload-logging CloudEvents paired into Keel records: V1 and V2 bodies, batches
of stored events, a response before its request, events left unpaired."""

from __future__ import annotations

import json
import math

import pytest

from keel.errors import KeelError
from keel.log.foreign import ForeignSettings
from keel.log.foreign._common import Unreadable
from keel.log.foreign.cloudevents import (
    CloudEventError,
    Pairing,
    binary_event,
    event_line,
    pair,
    read_cloudevents,
    read_events,
    read_paired,
    structured_event,
    unanswered,
)
from keel.log.record import check_record

SETTINGS = ForeignSettings(
    format="cloudevents",
    source="events/*.jsonl",
    model_version=3,
    versions={"credit/canary": 4},
    columns={"inputs": ["x1", "x2", "group"], "id": "application_id"},
)
KSERVE = "org.kubeflow.serving.inference"


def headers(ce_id: str, kind: str, **extra: str) -> dict[str, str]:
    """The headers KServe's logger sends (binary mode)."""
    return {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": ce_id,
        "ce-type": f"{KSERVE}.{kind}",
        "ce-source": "http://localhost:9081/",
        "ce-time": "2026-11-02T10:00:00.5Z",
        "ce-inferenceservicename": "credit",
        "ce-namespace": "default",
        "ce-component": "predictor",
        "ce-endpoint": "default",
        **extra,
    }


def event(ce_id, kind, body, **extra):
    return binary_event(headers(ce_id, kind, **extra), json.dumps(body).encode(), 100.0, SETTINGS)


def structured(ce_id, kind, body, **extra):
    return {
        "specversion": "1.0",
        "id": ce_id,
        "type": f"{KSERVE}.{kind}",
        "source": "http://localhost:9081/",
        "time": "2026-11-02T10:00:00Z",
        "inferenceservicename": "credit",
        "endpoint": "default",
        "data": body,
        **extra,
    }


def test_a_v1_request_and_response_pair_into_one_record_per_instance():
    request = event("a1", "request", {"instances": [[0.5, 1.0, "a"], [1.5, -1.0, "b"]]})
    response = event("a1", "response", {"predictions": [1, 0]})
    records, unpaired = pair([request, response], SETTINGS)
    assert unpaired == []
    assert [r["row"] for r in records] == [0, 1]
    first = records[0]
    assert first["request_id"] == "a1" and first["route"] == "champion"
    assert first["inputs"] == {"x1": 0.5, "x2": 1.0, "group": "a"}  # named in the schema's order
    assert first["prediction"] == 1 and first["probabilities"] is None
    assert first["model_version"] == 3  # [serving] model_version
    assert first["time"] == "2026-11-02T10:00:00.500000+00:00"
    assert "model_inputs" not in first and "latency_seconds" not in first
    for record in records:
        check_record(record)


def test_v1_instances_as_objects_keep_their_names_and_give_the_example_id():
    request = event("a2", "request", {"instances": [{"application_id": 7, "x1": 2.0}]})
    response = event("a2", "response", {"predictions": [{"0": 0.2, "1": 0.8}]})
    (record,), _ = pair([request, response], SETTINGS)
    assert record["inputs"] == {"application_id": 7, "x1": 2.0}
    assert record["example_id"] == "7"
    assert record["probabilities"] == {"0": 0.2, "1": 0.8}
    assert record["prediction"] == 1  # the most probable class


def test_v2_tensors_pair_with_probabilities_and_the_version_of_the_response():
    request = event(
        "b1",
        "request",
        {
            "inputs": [
                {"name": "x1", "shape": [2], "datatype": "FP64", "data": [0.1, 0.2]},
                {"name": "group", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "c"]},
            ]
        },
    )
    response = event(
        "b1",
        "response",
        {
            "model_name": "credit",
            "model_version": "7",
            "outputs": [
                {"name": "predict", "shape": [2], "datatype": "INT64", "data": [0, 1]},
                {
                    "name": "probabilities",
                    "shape": [2, 2],
                    "datatype": "FP64",
                    "data": [[0.9, 0.1], [0.3, 0.7]],
                },
            ],
        },
    )
    settings = ForeignSettings("cloudevents", "x", versions={"7": 2})
    records, _ = pair(
        [
            binary_event(headers("b1", "request"), json.dumps(request.data).encode(), 1, settings),
            binary_event(
                headers("b1", "response"), json.dumps(response.data).encode(), 1, settings
            ),
        ],
        settings,
    )
    assert [r["inputs"] for r in records] == [{"x1": 0.1, "group": "a"}, {"x1": 0.2, "group": "c"}]
    assert [r["prediction"] for r in records] == [0, 1]
    assert records[1]["probabilities"] == {"0": 0.3, "1": 0.7}
    assert {r["model_version"] for r in records} == {2}  # the response's model_version


def test_a_v2_tensor_of_rows_is_named_by_the_schema_order():
    request = event(
        "b2",
        "request",
        {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
    )
    response = event(
        "b2", "response", {"outputs": [{"name": "output-0", "shape": [1], "data": [0.5]}]}
    )
    (record,), _ = pair([request, response], SETTINGS)
    assert record["inputs"] == {"x1": 1, "x2": 2, "group": 3}
    assert record["prediction"] == 0.5


def test_the_version_comes_from_the_endpoint_mapping_before_the_default():
    request = event("c1", "request", {"instances": [[1, 2, "a"]]}, **{"ce-endpoint": "canary"})
    response = event("c1", "response", {"predictions": [0]}, **{"ce-endpoint": "canary"})
    (record,), _ = pair([request, response], SETTINGS)
    assert record["model_version"] == 4  # "credit/canary" in [serving] versions


def test_without_a_version_mapping_the_pair_is_an_error_naming_both_settings():
    settings = ForeignSettings("cloudevents", "x", columns=SETTINGS.columns)
    request = binary_event(headers("c2", "request"), b'{"instances": [[1, 2, "a"]]}', 1, settings)
    response = binary_event(headers("c2", "response"), b'{"predictions": [0]}', 1, settings)
    with pytest.raises(CloudEventError) as caught:
        pair([request, response], settings)
    assert "[serving] versions" in str(caught.value) and "model_version" in str(caught.value)
    assert "'credit/default'" in str(caught.value)


def test_a_response_before_its_request_pairs_all_the_same():
    response = event("d1", "response", {"predictions": [1]})
    request = event("d1", "request", {"instances": [[1, 2, "a"]]})
    pairing = Pairing(SETTINGS)
    assert pairing.add(response) is None
    assert len(pairing) == 1
    (record,) = pairing.add(request)
    assert record["prediction"] == 1 and record["inputs"]["group"] == "a"
    assert len(pairing) == 0 and pairing.held_bytes == 0


def test_unpaired_events_are_handed_back_in_arrival_order():
    a = event("e1", "request", {"instances": [[1, 2, "a"]]})
    b = event("e2", "response", {"predictions": [0]})
    c = event("e3", "request", {"instances": [[1, 2, "b"]]})
    d = event("e3", "response", {"predictions": [1]})
    records, unpaired = pair([a, b, c, d], SETTINGS)
    assert [r["request_id"] for r in records] == ["e3"]
    assert [(e.id, e.kind) for e in unpaired] == [("e1", "request"), ("e2", "response")]


def test_a_duplicate_event_is_counted_and_the_first_kept():
    pairing = Pairing(SETTINGS)
    first = event("f1", "request", {"instances": [[1, 2, "a"]]})
    again = event("f1", "request", {"instances": [[9, 9, "c"]]})
    pairing.add(first)
    assert pairing.add(again) is None and pairing.duplicates == 1
    (record,) = pairing.add(event("f1", "response", {"predictions": [0]}))
    assert record["inputs"]["x1"] == 1


def test_expiry_lets_the_oldest_go_by_age_and_by_bytes():
    pairing = Pairing(SETTINGS)
    for i, at in enumerate((10.0, 20.0, 30.0)):
        body = json.dumps({"instances": [[i, 2, "a"]]}).encode()
        pairing.add(binary_event(headers(f"g{i}", "request"), body, at, SETTINGS))
    assert [e.id for e in pairing.expire(before=15.0)] == ["g0"]
    one = pairing.held()[0].size
    assert [e.id for e in pairing.expire(before=0.0, max_bytes=one)] == ["g1"]
    assert [e.id for e in pairing.held()] == ["g2"]


def test_a_request_without_its_response_becomes_rows_without_a_prediction():
    request = event("h1", "request", {"instances": [[1, 2, "a"], [3, 4, "b"]]})
    rows = unanswered(request, SETTINGS, "no response event within 30 s")
    assert [r["prediction"] for r in rows] == [None, None]
    assert rows[1]["inputs"] == {"x1": 3, "x2": 4, "group": "b"}
    assert rows[0]["error"] == "no response event within 30 s"
    for record in rows:
        check_record(record)


def test_nan_outputs_and_inputs_are_logged_as_null_and_named_for_monitor_5():
    request = binary_event(
        headers("i1", "request"), b'{"instances": [[NaN, 2, "a"], [1, 2, "b"]]}', 1, SETTINGS
    )
    response = binary_event(
        headers("i1", "response"),
        b'{"predictions": [{"0": NaN, "1": NaN}, Infinity]}',
        1,
        SETTINGS,
    )
    first, second = pair([request, response], SETTINGS)[0]
    assert first["inputs"]["x1"] is None and "inputs.x1:nan" in first["nonfinite"]
    assert first["probabilities"] == {"0": None, "1": None}
    assert {"outputs.proba_0:nan", "outputs.proba_1:nan", "outputs.prediction:nan"} <= set(
        first["nonfinite"]
    )
    assert second["prediction"] is None and second["nonfinite"] == ["outputs.prediction:inf"]
    for record in (first, second):
        json.dumps(record, allow_nan=False)  # the log can hold it


def test_a_null_prediction_counts_as_nan_as_kserve_writes_it():
    request = event("i2", "request", {"instances": [[1, 2, "a"]]})
    response = event("i2", "response", {"predictions": [None]})
    (record,), _ = pair([request, response], SETTINGS)
    assert record["nonfinite"] == ["outputs.prediction:nan"]


def test_seldon_events_with_ndarray_bodies_pair():
    request = binary_event(
        headers("s1", "request", **{"ce-type": "io.seldon.serving.inference.request"}),
        b'{"data": {"names": ["x1", "x2"], "ndarray": [[1.0, 2.0]]}}',
        1,
        SETTINGS,
    )
    response = binary_event(
        headers("s1", "response", **{"ce-type": "io.seldon.serving.inference.response"}),
        b'{"data": {"names": ["no", "yes"], "ndarray": [[0.25, 0.75]]}, "meta": {}}',
        1,
        SETTINGS,
    )
    (record,), _ = pair([request, response], SETTINGS)
    assert record["inputs"] == {"x1": 1.0, "x2": 2.0}
    assert record["probabilities"] == {"no": 0.25, "yes": 0.75} and record["prediction"] == "yes"


@pytest.mark.parametrize(
    ("change", "body", "field"),
    [
        ({"ce-id": ""}, b'{"instances": [[1, 2, "a"]]}', "ce-id"),
        ({"ce-type": "com.example.other"}, b'{"instances": [[1, 2, "a"]]}', "ce-type"),
        ({"ce-specversion": "0.3"}, b'{"instances": [[1, 2, "a"]]}', "ce-specversion"),
        ({"ce-time": "yesterday"}, b'{"instances": [[1, 2, "a"]]}', "ce-time"),
        ({}, b"{not json", "data"),
        ({}, b'{"instances": [[1, 2]]}', "data.instances[0]"),
        ({}, b'{"rows": []}', "data"),
        ({"content-type": "text/csv"}, b"1,2", "content-type"),
    ],
)
def test_a_malformed_event_is_an_error_naming_its_field(change, body, field):
    with pytest.raises(CloudEventError) as caught:
        binary_event({**headers("z", "request"), **change}, body, 1, SETTINGS)
    assert caught.value.field == field


def test_a_response_answering_another_number_of_rows_is_an_error():
    request = event("j1", "request", {"instances": [[1, 2, "a"], [1, 2, "b"]]})
    response = event("j1", "response", {"predictions": [1]})
    with pytest.raises(CloudEventError, match="answers 1 rows, its request holds 2"):
        pair([request, response], SETTINGS)


def test_stored_events_as_json_lines_pair_across_lines():
    lines = [
        structured("k1", "request", {"instances": [[1, 2, "a"]]}),
        structured("k2", "request", {"instances": [[3, 4, "b"]]}),
        structured("k1", "response", {"predictions": [1]}),
        structured("k3", "response", {"predictions": [0]}),
    ]
    data = b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"
    records = list(read_cloudevents(data, "events.jsonl", SETTINGS))
    assert [(r["request_id"], r["prediction"]) for r in records] == [("k1", 1)]


def test_unpaired_stored_events_kept_as_lines_pair_in_the_next_take():
    first = json.dumps(structured("l1", "request", {"instances": [[1, 2, "a"]]})).encode()
    _, unpaired = pair(read_events(first, "a.jsonl", SETTINGS), SETTINGS)
    kept = b"".join(event_line(e) for e in unpaired)
    later = json.dumps(structured("l1", "response", {"predictions": [1]})).encode()
    records, left = pair(read_events(kept + later, "b.jsonl", SETTINGS), SETTINGS)
    assert [r["request_id"] for r in records] == ["l1"] and left == []


def test_a_structured_event_may_carry_its_body_in_base64():
    import base64

    data = base64.b64encode(b'{"instances": [[1, 2, "a"]]}').decode()
    obj = structured("m1", "request", None)
    del obj["data"]
    made = structured_event({**obj, "data_base64": data}, 1.0, SETTINGS)
    assert made.rows == [{"x1": 1, "x2": 2, "group": "a"}]


def test_a_bad_stored_line_is_unreadable_naming_its_line_and_field_the_others_taken():
    lines = [
        json.dumps(structured("n1", "request", {"instances": [[1, 2, "a"]]})),
        json.dumps({**structured("n2", "request", {"instances": []}), "type": "x.y"}),
        "{not json",
        json.dumps(structured("n1", "response", {"predictions": [1]})),
    ]
    made = list(read_cloudevents("\n".join(lines).encode() + b"\n", "events.jsonl", SETTINGS))
    bad = [m for m in made if isinstance(m, Unreadable)]
    assert [(b.line, b.reason.split(":")[0]) for b in bad] == [
        (2, "not a CloudEvent Keel reads"),
        (3, "not JSON (Expecting property name enclosed in double quotes"),
    ]
    assert "type: 'x.y' is not an inference request" in bad[0].reason
    assert [r["request_id"] for r in made if isinstance(r, dict)] == ["n1"]


def test_unpaired_events_are_handed_back_as_lines_and_pair_in_the_next_chunk():
    first = json.dumps(structured("p1", "request", {"instances": [[1, 2, "a"]]})) + "\n"
    made, held = read_paired(first.encode(), "a.jsonl", SETTINGS, [])
    assert made == [] and len(held) == 1
    later = json.dumps(structured("p1", "response", {"predictions": [1]})) + "\n"
    made, held = read_paired(later.encode(), "b.jsonl", SETTINGS, held)
    assert [(r["request_id"], r["prediction"]) for r in made] == [("p1", 1)] and held == []


def test_a_held_request_older_than_the_pairing_time_becomes_rows_without_a_prediction():
    old = structured("q1", "request", {"instances": [[1, 2, "a"]]}, time="2026-11-02T10:00:00Z")
    response = structured("q9", "response", {"predictions": [0]}, time="2026-11-02T10:00:20Z")
    _, held = read_paired((json.dumps(old) + "\n").encode(), "a.jsonl", SETTINGS, [])
    made, held = read_paired((json.dumps(response) + "\n").encode(), "a.jsonl", SETTINGS, held)
    assert made == [] and len(held) == 2  # 20 s later: both still wait
    late = structured("q2", "request", {"instances": [[1, 2, "b"]]}, time="2026-11-02T10:01:00Z")
    made, held = read_paired((json.dumps(late) + "\n").encode(), "a.jsonl", SETTINGS, held)
    (row, gone) = made
    assert row["request_id"] == "q1" and row["prediction"] is None and "no response" in row["error"]
    assert isinstance(gone, Unreadable) and "'q9' without its request" in gone.reason
    assert [json.loads(h)["id"] for h in held] == ["q2"]


def test_a_pair_no_version_served_is_an_error_naming_the_file_and_line():
    settings = ForeignSettings("cloudevents", "x", columns=SETTINGS.columns)
    lines = [
        structured("r1", "request", {"instances": [[1, 2, "a"]]}),
        structured("r1", "response", {"predictions": [1]}),
    ]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    with pytest.raises(KeelError, match=r"events.jsonl, line 2: .*\[serving\] model_version"):
        read_paired(data, "events.jsonl", settings, [])


def test_finite_values_pass_untouched():
    request = event("o1", "request", {"instances": [[0.0, -1e300, "a"]]})
    response = event("o1", "response", {"predictions": [[0.5, 0.5]]})
    (record,), _ = pair([request, response], SETTINGS)
    assert record["nonfinite"] == [] and math.isclose(record["inputs"]["x2"], -1e300)
    assert record["probabilities"] == {"0": 0.5, "1": 0.5}


def test_ce_time_with_nanoseconds_as_go_writes_it_is_read():
    request = event(
        "p1",
        "request",
        {"instances": [[1, 2, "a"]]},
        **{"ce-time": "2026-11-03T10:00:00.123456789Z"},
    )
    (record,), _ = pair([request, event("p1", "response", {"predictions": [1]})], SETTINGS)
    assert record["time"] == "2026-11-03T10:00:00.123456+00:00"
