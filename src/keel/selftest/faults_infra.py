"""Faults of the infrastructure section (infra.1 … infra.5), planted on any system's copy.

infra.1–3 and infra.5 edit the copy's training or feature module; infra.4 needs a champion,
which its `setup` registers and promotes through the gate in the copy's own registry (on the
clean copy and the faulty one alike) before the fault tightens the gate.
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


# -- infra.5 -------------------------------------------------------------------------------
JITTER = """
import numpy as _keel_selftest_np


class _KeelSelftestJitter:
    # The user's estimator with a random term in its output at every call (as dropout left
    # on at prediction): the same row gets another output each time it is predicted.

    def __init__(self, estimator, amplitude):
        self.estimator = estimator
        self.amplitude = amplitude
        if hasattr(estimator, "classes_"):
            self.classes_ = estimator.classes_

    @staticmethod
    def _signs(n):
        return 2.0 * _keel_selftest_np.random.default_rng().integers(0, 2, n) - 1  # unseeded

    @property
    def predict_proba(self):
        inner = self.estimator.predict_proba  # no such method: AttributeError, as the model's

        def predict_proba(inputs):
            proba = _keel_selftest_np.asarray(inner(inputs), dtype=float)
            drawn = _keel_selftest_np.random.default_rng().integers(0, proba.shape[1], len(proba))
            pick = _keel_selftest_np.eye(proba.shape[1])[drawn]
            return (1 - self.amplitude) * proba + self.amplitude * pick

        return predict_proba

    @property
    def decision_function(self):
        if hasattr(self.estimator, "predict_proba"):
            raise AttributeError("decision_function: the model gives probabilities")
        inner = self.estimator.decision_function

        def decision_function(inputs):
            values = _keel_selftest_np.asarray(inner(inputs), dtype=float)
            signs = self._signs(len(values)).reshape((-1,) + (1,) * (values.ndim - 1))
            return values + self.amplitude * signs

        return decision_function

    def predict(self, inputs):
        if not hasattr(self, "classes_"):
            values = _keel_selftest_np.asarray(self.estimator.predict(inputs), dtype=float)
            return values + self.amplitude * self._signs(len(values))
        if hasattr(self.estimator, "predict_proba"):
            scores = self.predict_proba(inputs)
        else:
            scores = _keel_selftest_np.asarray(self.decision_function(inputs), dtype=float)
            scores = scores.reshape(len(scores), -1)
            if scores.shape[1] == 1:
                return self.classes_[(scores[:, 0] > 0).astype(int)]
        return self.classes_[_keel_selftest_np.argmax(scores, axis=1)]
"""
JITTER_SHARE = 0.3  # infra.5: how far a probability moves towards a randomly drawn class
JITTER_SCORE = 1.0  # infra.5: ± this on a decision function (a classifier without proba)
JITTER_TOLERANCES = 5  # infra.5: a regression's term is at least this many [explain] tolerances


def random_output(copy: Copy) -> None:
    """A model whose output carries a random term at every call (dropout left on at
    prediction, say): a probability moved 30% of the way to a randomly drawn class; a
    classifier's score ±1; a regression ±30% of the target's standard deviation (at least
    five `[explain] tolerance`s). `keel explain` computes a row's output among the sampled
    rows and again along the walks that split it into contributions: the two no longer agree,
    so baseline + contributions cannot reproduce the output the model gave."""
    data = _plant.config(copy)
    floor = JITTER_TOLERANCES * float(data.get("explain", {}).get("tolerance", 1e-6))
    regression = data.get("system", {}).get("task", "binary") == "regression"
    _plant.wrap(
        copy,
        "train",
        f"""
        _model = _keel_selftest_original(frame, target, params, seed, *args, **kwargs)
        if hasattr(_model, "predict_proba"):
            _amplitude = {JITTER_SHARE!r}
        elif hasattr(_model, "classes_"):
            _amplitude = {JITTER_SCORE!r}
        else:
            _spread = float(frame[target].std()) if frame[target].count() > 1 else 1.0
            _amplitude = max({JITTER_SHARE!r} * _spread, {floor!r})
        return _KeelSelftestJitter(_model, _amplitude)
        """,
        prelude=JITTER,
        why="a random term in every output",
    )
    term = (
        f"±{JITTER_SHARE:.0%} of the target's standard deviation"
        if regression
        else f"the probability moved {JITTER_SHARE:.0%} of the way to a randomly drawn class "
        f"(a score without probabilities: ±{JITTER_SCORE:g})"
    )
    copy.notes["planted"] = f"a random term in every output: {term}"


FAULTS: list[Fault] = [
    Fault("infra.1", "unseeded training", unseeded, key="infra.1"),
    Fault("infra.2", "non-probability output", not_probabilities, key="infra.2"),
    Fault("infra.3", "a served-vs-offline mismatch", served_mismatch, key="infra.3"),
    Fault("infra.4", "a gate tightened after promotion", gate_tightened, champion, key="infra.4"),
    Fault("infra.5", "an output with a random term", random_output, key="infra.5"),
]
