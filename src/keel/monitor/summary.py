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
- `skew_sample`: the window's rows whose logged model inputs were recomputed from the logged
  raw inputs with the model's own feature code, a uniform sample of the window
  (`keel.monitor.sampling`), each with the inputs that differed; `skew_inputs` the inputs
  compared, `skew_population` the rows the sample was drawn from; `skew` per model input, the
  rows compared and how many differed (with a few example ids), counted on the sample;
- `errors`: rows whose prediction failed;
- `rejected`: rows the server refused for a schema problem (route "rejected"). They count in
  `anomalies` (with their problems) and nowhere else: `rows`, the profiles, `errors` and the
  skew are of served rows only;
- `pii`: personal data found in the logged values of every row (served and refused), per
  logged field (`inputs.email`) and kind: values holding it, one masked example; and
  `pii_values`, the non-null values scanned per field. `pii_rows` is the rows scanned (None
  in a summary written before Keel scanned the log in the intake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keel.data.profile import Profile
from keel.monitor.sampling import SAMPLE_SIZE

MAX_EXAMPLES = 5  # example ids kept per skewed input


def merge_profiles(a: Profile | None, b: Profile | None) -> Profile | None:
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


@dataclass(frozen=True)
class SampledRow:
    """One row of a window's skew sample: its sampling key, example id and the model inputs
    whose recomputed value differed from the logged one."""

    key: float
    example: str | None = None
    skewed: tuple[str, ...] = ()


def _bottom(a: list[SampledRow], b: list[SampledRow]) -> list[SampledRow]:
    """The SAMPLE_SIZE rows of smallest key of both samples (see `keel.monitor.sampling`)."""
    if not b:
        return list(a)
    if not a:
        return list(b)
    return sorted([*a, *b], key=lambda r: r.key)[:SAMPLE_SIZE]


def skew_of(sample: list[SampledRow], inputs: list[str]) -> dict[str, Skew]:
    """Per compared model input: rows of the sample compared, those that differed, examples."""
    out = {}
    for name in inputs:
        bad = [r for r in sample if name in r.skewed]
        examples = [r.example for r in bad if r.example is not None][:MAX_EXAMPLES]
        out[name] = Skew(len(sample), len(bad), examples)
    return out


def _merge_pii(
    a: dict[str, dict[str, dict[str, Any]]], b: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, dict[str, Any]]]:
    out = {f: {k: dict(v) for k, v in kinds.items()} for f, kinds in a.items()}
    for name, kinds in b.items():
        mine = out.setdefault(name, {})
        for kind, found in kinds.items():
            if kind in mine:
                mine[kind]["matches"] += found["matches"]
            else:
                mine[kind] = dict(found)
    return out


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
    skew_sample: list[SampledRow] = field(default_factory=list)
    skew_inputs: list[str] = field(default_factory=list)
    skew_population: int = 0
    rejected: int = 0
    pii: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pii_values: dict[str, int] = field(default_factory=dict)
    pii_rows: int | None = None

    @property
    def legacy_skew(self) -> bool:
        """Skew counts written before samples were kept (they merge by adding up)."""
        return not self.skew_sample and any(s.compared for s in self.skew.values())

    @property
    def received(self) -> int:
        """Rows the server received in the window: served and refused."""
        return self.rows + self.rejected

    def set_skew(self, sample: list[SampledRow], inputs: list[str], population: int) -> None:
        """Record the window's skew sample and the counts per input it gives."""
        self.skew_sample = sorted(sample, key=lambda r: r.key)[:SAMPLE_SIZE]
        self.skew_inputs = list(inputs)
        self.skew_population = population
        self.skew = skew_of(self.skew_sample, self.skew_inputs)

    def merge(self, other: PartSummary) -> PartSummary:
        """The summary of both (same window and model version)."""
        if (self.window, self.model_version) != (other.window, other.model_version):
            raise ValueError("summaries of different windows or versions do not merge")
        sample = _bottom(self.skew_sample, other.skew_sample)
        inputs = list(dict.fromkeys([*self.skew_inputs, *other.skew_inputs]))
        if not (self.legacy_skew or other.legacy_skew):
            skew = skew_of(sample, inputs)
        else:  # a summary written before skew samples were kept: its counts add up
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
            inputs=merge_profiles(self.inputs, other.inputs),
            model_inputs=merge_profiles(self.model_inputs, other.model_inputs),
            outputs=merge_profiles(self.outputs, other.outputs),
            anomalies=_add_counts(self.anomalies, other.anomalies),
            anomaly_examples={**other.anomaly_examples, **self.anomaly_examples},
            nonfinite=_add_counts(self.nonfinite, other.nonfinite),
            skew=skew,
            skew_error=self.skew_error or other.skew_error,
            parts=self.parts + other.parts,
            skew_sample=sample,
            skew_inputs=inputs,
            skew_population=self.skew_population + other.skew_population,
            rejected=self.rejected + other.rejected,
            pii=_merge_pii(self.pii, other.pii),
            pii_values=_add_counts(self.pii_values, other.pii_values),
            pii_rows=None
            if self.pii_rows is None or other.pii_rows is None
            else self.pii_rows + other.pii_rows,
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
            "skew_sample": [[r.key, r.example, list(r.skewed)] for r in self.skew_sample],
            "skew_inputs": self.skew_inputs,
            "skew_population": self.skew_population,
            "rejected": self.rejected,
            "pii": self.pii,
            "pii_values": self.pii_values,
            "pii_rows": self.pii_rows,
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
            skew_sample=[
                SampledRow(float(k), e, tuple(s)) for k, e, s in data.get("skew_sample") or []
            ],
            skew_inputs=list(data.get("skew_inputs") or []),
            skew_population=int(data.get("skew_population", 0)),
            rejected=int(data.get("rejected", 0)),
            pii=dict(data.get("pii") or {}),
            pii_values=dict(data.get("pii_values") or {}),
            pii_rows=None if data.get("pii_rows") is None else int(data["pii_rows"]),
        )
