"""Faults of the infrastructure section (infra.1 … infra.4), planted on any system's copy.

infra.1–3 edit the copy's training or feature module; infra.4 needs a champion, which its
`setup` registers and promotes through the gate in the copy's own registry (on the clean copy
and the faulty one alike) before the fault tightens the gate.
"""

from __future__ import annotations

from keel.selftest import _plant
from keel.selftest.fault import Copy, Fault, NotApplicable


# -- infra.1 -------------------------------------------------------------------------------
def unseeded(copy: Copy) -> None:
    """Training code that ignores its seed and draws a new one on every run."""
    _plant.wrap(
        copy,
        "train",
        "seed = int.from_bytes(_keel_selftest_os.urandom(4), 'little') % (2**31)\n"
        "return _keel_selftest_original(frame, target, params, seed, *args, **kwargs)",
        prelude="import os as _keel_selftest_os",
        why="unseeded training",
    )
    copy.notes["seed"] = "a fresh random seed on every training"


# -- infra.2 -------------------------------------------------------------------------------
SCORES = """
class _KeelSelftestScores:
    '''The user's estimator, with predict_proba returning scores that are no probabilities.'''

    def __init__(self, estimator):
        self.estimator = estimator
        self.classes_ = getattr(estimator, "classes_", None)

    def predict(self, inputs):
        return self.estimator.predict(inputs)

    def predict_proba(self, inputs):
        return self.estimator.predict_proba(inputs) * 3.0 - 1.0
"""


def not_probabilities(copy: Copy) -> None:
    """A classifier whose predict_proba returns scores outside [0, 1] that do not sum to 1."""
    task = _plant.config(copy).get("system", {}).get("task", "binary")
    if task == "regression":
        raise NotApplicable("a regression has no class probabilities")
    _plant.wrap(
        copy,
        "train",
        "return _KeelSelftestScores(\n"
        "    _keel_selftest_original(frame, target, params, seed, *args, **kwargs)\n)",
        prelude=SCORES,
        why="non-probability output",
    )
    copy.notes["output"] = "predict_proba × 3 − 1"


# -- infra.3 -------------------------------------------------------------------------------
def served_mismatch(copy: Copy) -> None:
    """Feature code whose output depends on the process: an input made from Python's string
    hash, which each process salts differently, so a server computes other values than the
    process that trained and evaluated the model."""
    raw = _plant.frames(copy)["train"]
    roles = set(_plant.role_columns(copy))
    columns = [str(c) for c in raw.columns if str(c) not in roles]
    if not columns:
        raise NotApplicable("no raw input column to derive a feature from")
    source = columns[0]
    _plant.wrap(
        copy,
        "features",
        f"out['selftest_bucket'] = raw[{source!r}].astype(str).map(hash).to_numpy() % 1009 / 1009",
        why="a served-vs-offline mismatch",
    )
    copy.notes["input"] = f"selftest_bucket (Python's per-process hash of {source})"


# -- infra.4 -------------------------------------------------------------------------------
def champion(copy: Copy) -> None:
    """Register the copy's model and promote it through its gate: the serving version."""
    from keel.registry.promotion import promote
    from keel.training import gate_inputs, registry_ref, train_and_register

    system = _plant.system(copy)
    if not system.config.gate.min and not system.config.gate.max_regression:
        return  # no gate: infra.4 is not configured on the clean copy; nothing to promote
    version = train_and_register(system)
    verdict = promote(registry_ref(system), version.version, gate_inputs(system), who="selftest")
    copy.notes["champion"] = f"version {version.version}, promoted: {verdict.passed}"


def gate_tightened(copy: Copy) -> None:
    """The gate raised above the serving version's quality after it was promoted."""
    system = _plant.system(copy)
    metric = system.metric_name
    value = system.trained.metric
    floor = round(value + 0.05 * max(abs(value), 0.01), 6)
    data = _plant.config(copy)
    gate = data.setdefault("gate", {})
    if not gate.get("min") and not gate.get("max_regression"):
        raise NotApplicable("no quality gate ([gate] min, max_regression) to tighten")
    gate.setdefault("min", {})[metric] = floor
    _plant.save_config(copy, data)
    copy.notes["gate"] = f"[gate] min {metric} = {floor:g} (the champion has {value:.4g})"


FAULTS: list[Fault] = [
    Fault("infra.1", "unseeded training", unseeded, key="infra.1"),
    Fault("infra.2", "non-probability output", not_probabilities, key="infra.2"),
    Fault("infra.3", "a served-vs-offline mismatch", served_mismatch, key="infra.3"),
    Fault("infra.4", "a gate tightened after promotion", gate_tightened, champion, key="infra.4"),
]
