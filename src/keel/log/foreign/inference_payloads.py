"""The bodies of inference requests and responses, as KServe and Seldon log them, into rows.

Three protocols, told apart by their keys:

    V1 (KServe, TF Serving)    request {"instances": [...]} (or columnar {"inputs": {name:
                               [values]}}), response {"predictions": [...]}
    V2 (Open Inference)        request {"inputs": [{"name", "shape", "datatype", "data"}]},
                               response {"outputs": [...], "model_version"?}
    Seldon Core v1             {"data": {"names"?: [...], "ndarray": [[...]]}} (or "tensor":
                               {"shape", "values"}) both ways

`request_rows(body, names)` gives one {input: value} per instance. An instance that is a JSON
object keeps its own names; one given as a list of values (V1 lists, a V2 tensor of shape
[N, F], a Seldon ndarray without "names") is named by `names`: the inputs the system's schema
declares, in the schema's order (`keel ingest` and the importer pass them), and a list of
another length is an error naming the field. A V2 request of several tensors is one column per
tensor, each named by the tensor.

`response_outputs(body)` gives one `Output` per row: the prediction and, when the response
holds them, class probabilities (class -> p): V1 predictions that are {class: p} objects or
lists of numbers, a V2 output named "probabilities", "predict_proba" or "proba" of shape
[N, C], a Seldon ndarray of rows of C numbers (classes named by its "names" when given, else
0..C-1). Without a separate prediction, the prediction is the most probable class.

NaN, infinities and nulls: a number that is NaN or infinite is logged as null and named in the
record's `nonfinite` (`inputs.<name>:nan`, `outputs.prediction:inf`, `outputs.proba_<c>:nan`),
as `keel serve` lists them for monitor.5. A null prediction or probability counts as NaN
there: KServe's Python servers write a NaN as null (orjson), so a null output is what a NaN
output looks like in their logs. Every error is a `PayloadError` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PROBABILITY_OUTPUTS = ("probabilities", "predict_proba", "proba", "probability")


class PayloadError(ValueError):
    """A body that is not an inference request or response Keel reads; `field` names where."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.field = where
        self.message = message


@dataclass(frozen=True)
class Output:
    """What the model answered for one row."""

    prediction: Any
    probabilities: dict[str, float] | None = None
    nonfinite: list[str] = field(default_factory=list)


def finite(value: Any, name: str, nonfinite: list[str]) -> Any:
    """`value`, or None with `name:nan|inf` appended to `nonfinite` for a NaN or infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        nonfinite.append(f"{name}:{'nan' if math.isnan(value) else 'inf'}")
        return None
    return value


def clean_inputs(row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A row with its NaN and infinite numbers as null, and those inputs' names listed."""
    found: list[str] = []
    if not any(isinstance(v, float) and not math.isfinite(v) for v in row.values()):
        return row, found
    return {k: finite(v, f"inputs.{k}", found) for k, v in row.items()}, found


def _shape(tensor: dict[str, Any], where: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise PayloadError(f"{where}.shape", f"expected a list of sizes, got {shape!r}")
    return shape


def _flat(data: Any) -> list[Any]:
    """A tensor's data flattened (V2 allows it nested as well as flat, row-major)."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    out: list[Any] = []
    for value in data:
        out.extend(_flat(value))
    return out


def _tensor_rows(tensor: Any, where: str) -> list[list[Any]]:
    """A V2 tensor as rows: shape [N] or [N, 1] -> N rows of one value, [N, F] -> N rows of F."""
    if not isinstance(tensor, dict):
        raise PayloadError(where, f"expected a tensor object, got {type(tensor).__name__}")
    shape = _shape(tensor, where)
    if "data" not in tensor:
        raise PayloadError(f"{where}.data", "missing")
    data = _flat(tensor["data"])
    if not shape or len(shape) > 2:
        raise PayloadError(f"{where}.shape", f"expected [rows] or [rows, columns], got {shape}")
    rows = shape[0]
    width = shape[1] if len(shape) == 2 else 1
    if len(data) != rows * width:
        raise PayloadError(
            f"{where}.data", f"holds {len(data)} values, shape {shape} needs {rows * width}"
        )
    return [data[i * width : (i + 1) * width] for i in range(rows)]


def _named(values: Any, names: list[str] | None, where: str) -> dict[str, Any]:
    """One instance as {input: value}: an object as it is, a list named by `names`."""
    if isinstance(values, dict):
        return values
    if not isinstance(values, list):
        values = [values]
    if not names:
        raise PayloadError(
            where,
            "an instance given as a list of values needs the inputs' names: give the system a "
            "schema (keel schema infer), whose serving inputs name the values in its order",
        )
    if len(values) != len(names):
        raise PayloadError(
            where,
            f"holds {len(values)} values, the schema's serving inputs are {len(names)} "
            f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})",
        )
    return dict(zip(names, values, strict=True))


def _columnar(columns: dict[str, Any], where: str) -> list[dict[str, Any]]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise PayloadError(where, "columnar inputs must be lists of one length")
    count = lengths.pop()
    return [{k: v[i] for k, v in columns.items()} for i in range(count)]


def _v2_rows(tensors: list[Any], names: list[str] | None) -> list[dict[str, Any]]:
    if not tensors:
        raise PayloadError("inputs", "no tensors")
    parts = [_tensor_rows(t, f"inputs[{i}]") for i, t in enumerate(tensors)]
    if len(tensors) == 1 and (len(parts[0][0]) > 1 if parts[0] else False):
        return [_named(row, names, f"inputs[0].data[{i}]") for i, row in enumerate(parts[0])]
    counts = {len(p) for p in parts}
    if len(counts) != 1:
        raise PayloadError("inputs", f"tensors of different row counts {sorted(counts)}")
    labels = []
    for i, tensor in enumerate(tensors):
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise PayloadError(f"inputs[{i}].name", "each tensor needs a name (its input)")
        labels.append(name)
    return [
        {label: part[r][0] for label, part in zip(labels, parts, strict=True)}
        for r in range(counts.pop())
    ]


def _seldon(data: Any, where: str) -> tuple[list[list[Any]] | list[Any], list[str] | None]:
    """(rows, names or None) of a Seldon `data` object."""
    if not isinstance(data, dict):
        raise PayloadError(where, "expected an object with ndarray or tensor")
    names = data.get("names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise PayloadError(f"{where}.names", "expected a list of strings")
    if "ndarray" in data:
        rows = data["ndarray"]
        if not isinstance(rows, list):
            raise PayloadError(f"{where}.ndarray", "expected a list of rows")
        return rows, names or None
    if "tensor" in data:
        return _tensor_rows(data["tensor"], f"{where}.tensor"), names or None
    raise PayloadError(where, "expected ndarray or tensor (Seldon's protocol)")


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and "data" in value and "name" in value


def request_rows(body: Any, names: list[str] | None = None) -> list[dict[str, Any]]:
    """One {input: value} per instance of an inference request body (see the module)."""
    if not isinstance(body, dict):
        raise PayloadError("data", f"expected a JSON object, got {type(body).__name__}")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise PayloadError("data.instances", "expected a list")
        return [_named(v, names, f"data.instances[{i}]") for i, v in enumerate(instances)]
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            return _columnar(inputs, "data.inputs")
        if isinstance(inputs, list) and inputs and all(_is_tensor(t) for t in inputs):
            return _v2_rows(inputs, names)
        if not isinstance(inputs, list):
            raise PayloadError("data.inputs", "expected V2 tensors or V1 instances")
        return [_named(v, names, f"data.inputs[{i}]") for i, v in enumerate(inputs)]
    if "data" in body:
        rows, own = _seldon(body["data"], "data.data")
        return [_named(r, own or names, f"data.data.ndarray[{i}]") for i, r in enumerate(rows)]
    raise PayloadError("data", "no instances, inputs or data: not an inference request")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(key: str) -> Any:
    """A class name as the prediction: "1" -> 1, as the labels of a classifier are."""
    return int(key) if key.lstrip("-").isdigit() else key


def _probabilities(values: dict[str, Any], where: str) -> Output:
    """An Output from class -> p (None or NaN counted as non-finite); prediction the argmax."""
    found: list[str] = []
    proba: dict[str, float] = {}
    for key, value in values.items():
        if value is not None and not _number(value):
            raise PayloadError(where, f"probability of class {key!r} is {value!r}, not a number")
        name = f"outputs.proba_{key}"
        if value is None:
            found.append(f"{name}:nan")
        else:
            value = finite(float(value), name, found)
        proba[str(key)] = value  # type: ignore[assignment]
    known = {k: v for k, v in proba.items() if v is not None}
    prediction = _label(max(known, key=known.__getitem__)) if known else None
    if prediction is None:
        found.append("outputs.prediction:nan")
    return Output(prediction, proba, found)


def _spare(scored: Output) -> list[str]:
    """The non-finite probabilities of `scored`, without its argmax's (a prediction is given)."""
    return [n for n in scored.nonfinite if not n.startswith("outputs.prediction")]


def _prediction(value: Any, where: str) -> Output:
    """An Output from one V1 prediction: a value, {class: p}, or a list of class scores."""
    if isinstance(value, dict):
        if "prediction" in value or "predictions" in value:
            inner = value.get("prediction", value.get("predictions"))
            proba = value.get("probabilities", value.get("proba"))
            out = _prediction(inner, f"{where}.prediction")
            if isinstance(proba, dict):
                scored = _probabilities(proba, f"{where}.probabilities")
                return Output(out.prediction, scored.probabilities, out.nonfinite + _spare(scored))
            return out
        return _probabilities(value, where)
    if isinstance(value, list):
        if len(value) == 1:
            return _prediction(value[0], where)
        return _probabilities({str(i): v for i, v in enumerate(value)}, where)
    if value is None:
        return Output(None, None, ["outputs.prediction:nan"])
    if not (_number(value) or isinstance(value, str | bool)):
        raise PayloadError(where, f"expected a prediction, got {type(value).__name__}")
    found: list[str] = []
    return Output(finite(value, "outputs.prediction", found), None, found)


def _v2_outputs(tensors: list[Any]) -> list[Output]:
    if not tensors:
        raise PayloadError("outputs", "no tensors")
    proba_rows: list[list[Any]] | None = None
    pred_rows: list[list[Any]] | None = None
    for i, tensor in enumerate(tensors):
        rows = _tensor_rows(tensor, f"outputs[{i}]")
        name = str(tensor.get("name", "")).lower()
        if name in PROBABILITY_OUTPUTS:
            proba_rows = rows
        elif pred_rows is None:
            pred_rows = rows
    if proba_rows is not None and pred_rows is not None and len(proba_rows) != len(pred_rows):
        raise PayloadError("outputs", "prediction and probability tensors of different rows")
    count = len(proba_rows if proba_rows is not None else pred_rows or [])
    out = []
    for r in range(count):
        scored = (
            _probabilities({str(i): v for i, v in enumerate(proba_rows[r])}, f"outputs.data[{r}]")
            if proba_rows is not None
            else None
        )
        if pred_rows is None:
            out.append(scored)  # type: ignore[arg-type]
            continue
        made = _prediction(pred_rows[r][0], f"outputs.data[{r}]")
        if scored is None:
            out.append(made)
        else:
            out.append(
                Output(made.prediction, scored.probabilities, made.nonfinite + _spare(scored))
            )
    return out


def response_outputs(body: Any) -> list[Output]:
    """One Output per row of an inference response body (see the module)."""
    if not isinstance(body, dict):
        raise PayloadError("data", f"expected a JSON object, got {type(body).__name__}")
    if "predictions" in body:
        predictions = body["predictions"]
        if not isinstance(predictions, list):
            raise PayloadError("data.predictions", "expected a list")
        return [_prediction(v, f"data.predictions[{i}]") for i, v in enumerate(predictions)]
    if "outputs" in body:
        outputs = body["outputs"]
        if not isinstance(outputs, list) or not all(isinstance(t, dict) for t in outputs):
            raise PayloadError("data.outputs", "expected a list of V2 tensors")
        return _v2_outputs(outputs)
    if "data" in body:
        rows, names = _seldon(body["data"], "data.data")
        out = []
        for i, row in enumerate(rows):
            where = f"data.data.ndarray[{i}]"
            if isinstance(row, list) and len(row) > 1:
                keys = (
                    names if names and len(names) == len(row) else [str(j) for j in range(len(row))]
                )
                out.append(_probabilities(dict(zip(keys, row, strict=True)), where))
            else:
                out.append(_prediction(row, where))
        return out
    raise PayloadError("data", "no predictions, outputs or data: not an inference response")
