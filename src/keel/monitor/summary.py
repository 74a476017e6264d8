"""What one rolled part of the prediction log holds for one window and model version.

A `PartSummary` is computed once per rolled part (see `keel.monitor.intake`) and is mergeable:
the summaries of every part of a window, merged, are the window's summary, whatever the number
of parts or their order. It holds:

- `inputs`, `model_inputs`, `outputs`: profiles (`keel.data.profile`) of the raw inputs as
  logged (personal data already handled), of the model inputs the feature code built, and of
  the outputs (`prediction`, `proba_<class>`, `latency_seconds`);
- `anomalies`: per input, the rows whose schema check at serving time found a problem, and
  `anomaly_examples`: per input, one problem as the server logged it ("expected …, got …");
- `nonfinite`: per logged field (`inputs.x`, `model_inputs.x`, `outputs.prediction`), the NaN
  and infinite values;
- `skew`: per model input, the rows whose logged value was recomputed from the logged raw
  inputs with the model's own feature code, and how many differed (with a few example ids);
- `errors`: rows whose prediction failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keel.data.profile import Profile

MAX_EXAMPLES = 5  # example ids kept per skewed input


def _merge_profiles(a: Profile | None, b: Profile | None) -> Profile | None:
    """Merge two profiles over the union of their columns (a column missing from one side is
    kept as the other side has it)."""
    if a is None:
        return b
    if b is None:
        return a
    shared = [c for c in a.columns if c in b.columns]
    columns = {}
    for name in dict.fromkeys([*a.columns, *b.columns]):
        if name in shared:
            columns[name] = a.columns[name].merge(b.columns[name], where=name)
        else:
            columns[name] = (a.columns.get(name) or b.columns[name]).copy()
    return Profile(columns, a.rows + b.rows, a.batches + b.batches, a.source or b.source)


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


@dataclass
class Skew:
    """One model input's per-example skew: rows compared, rows that differed, examples."""

    compared: int = 0
    skewed: int = 0
    examples: list[str] = field(default_factory=list)

    def merge(self, other: Skew) -> Skew:
        examples = (self.examples + [e for e in other.examples if e not in self.examples])[
            :MAX_EXAMPLES
        ]
        return Skew(self.compared + other.compared, self.skewed + other.skewed, examples)


@dataclass
class PartSummary:
    """One window × model version of the log, from one or several rolled parts."""

    window: str  # ISO start of the window, UTC
    model_version: int
    rows: int
    first_time: str
    last_time: str
    errors: int = 0
    inputs: Profile | None = None
    model_inputs: Profile | None = None
    outputs: Profile | None = None
    anomalies: dict[str, int] = field(default_factory=dict)
    anomaly_examples: dict[str, str] = field(default_factory=dict)
    nonfinite: dict[str, int] = field(default_factory=dict)
    skew: dict[str, Skew] = field(default_factory=dict)
    skew_error: str | None = None  # why the feature code could not recompute the inputs
    parts: list[str] = field(default_factory=list)

    def merge(self, other: PartSummary) -> PartSummary:
        """The summary of both (same window and model version)."""
        if (self.window, self.model_version) != (other.window, other.model_version):
            raise ValueError("summaries of different windows or versions do not merge")
        skew = dict(self.skew)
        for name, s in other.skew.items():
            skew[name] = skew[name].merge(s) if name in skew else s
        return PartSummary(
            window=self.window,
            model_version=self.model_version,
            rows=self.rows + other.rows,
            first_time=min(self.first_time, other.first_time),
            last_time=max(self.last_time, other.last_time),
            errors=self.errors + other.errors,
            inputs=_merge_profiles(self.inputs, other.inputs),
            model_inputs=_merge_profiles(self.model_inputs, other.model_inputs),
            outputs=_merge_profiles(self.outputs, other.outputs),
            anomalies=_add_counts(self.anomalies, other.anomalies),
            anomaly_examples={**other.anomaly_examples, **self.anomaly_examples},
            nonfinite=_add_counts(self.nonfinite, other.nonfinite),
            skew=skew,
            skew_error=self.skew_error or other.skew_error,
            parts=self.parts + other.parts,
        )

    def to_dict(self) -> dict[str, Any]:
        def profile(p: Profile | None) -> dict[str, Any] | None:
            return None if p is None else p.to_dict(summary=False)

        return {
            "window": self.window,
            "model_version": self.model_version,
            "rows": self.rows,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "errors": self.errors,
            "inputs": profile(self.inputs),
            "model_inputs": profile(self.model_inputs),
            "outputs": profile(self.outputs),
            "anomalies": self.anomalies,
            "anomaly_examples": self.anomaly_examples,
            "nonfinite": self.nonfinite,
            "skew": {n: vars(s) for n, s in self.skew.items()},
            "skew_error": self.skew_error,
            "parts": self.parts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartSummary:
        def profile(d: dict[str, Any] | None) -> Profile | None:
            return None if d is None else Profile.from_dict(d)

        return cls(
            window=data["window"],
            model_version=int(data["model_version"]),
            rows=int(data["rows"]),
            first_time=data["first_time"],
            last_time=data["last_time"],
            errors=int(data.get("errors", 0)),
            inputs=profile(data.get("inputs")),
            model_inputs=profile(data.get("model_inputs")),
            outputs=profile(data.get("outputs")),
            anomalies=dict(data.get("anomalies") or {}),
            anomaly_examples=dict(data.get("anomaly_examples") or {}),
            nonfinite=dict(data.get("nonfinite") or {}),
            skew={n: Skew(**s) for n, s in (data.get("skew") or {}).items()},
            skew_error=data.get("skew_error"),
            parts=list(data.get("parts") or []),
        )
