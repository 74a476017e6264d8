"""The ML Test Score rubric (Breck et al., 2017) as data, and the paper's scoring.

Each of the 28 practices earns 0 points when nothing is done, 0.5 when it is done by hand and
documented (an attestation in keel.toml), and 1 when an automated check ran and passed. A
section's score is the sum of its seven practices; the final score is the minimum of the four
sections. Keel is stricter than the paper in one respect: the paper counts an automated test
whether or not it passes, Keel counts it only when it passes. Both figures are reported.

`PRACTICES` is the one declaration of each practice: what it asks, and how Keel checks it (the
check function, whether its evidence can be reused, whether it needs the trained model, the
keel.toml sections it reads). The runner, the reports and `keel rubric` read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel.evidence import Evidence

SECTIONS: dict[str, str] = {
    "data": "Data and features",
    "model": "Model development",
    "infra": "ML infrastructure",
    "monitor": "Monitoring",
}


@dataclass(frozen=True)
class Practice:
    """One practice of the rubric, declared once: what it asks, and how Keel checks it.

    `check` names the function that checks it, as "module:function" (the runner imports it
    when it runs the check, so reading the rubric imports no check code), or is None while
    Keel has no automated check for it: the runner reports it `not_configured`, and an
    attestation in keel.toml still earns it half a point.

    `reusable`: its evidence depends only on the system's code, data and configuration (and
    the schema file), so a second run with nothing changed reuses it. The others look at things
    outside that state (git, the user's tests, the registry) and always run; data.7 and infra.2
    cache what they can themselves, keyed by the user's tests too; model.3 reads recorded
    searches from the tracking store and caches its own sweep.

    `needs_model`: its evidence depends on the trained model. A run whose checks need none
    does not train; evidence of a practice that needs it notes the evaluation rows left out
    because the model raises on them.

    `reads`: the keel.toml sections its check's own code reads (beyond what loading and
    training the system reads).
    """

    id: str
    section: str
    title: str
    description: str
    automated: str
    check: str | None = None
    reusable: bool = False
    needs_model: bool = True
    reads: tuple[str, ...] = ()


def _p(
    id: str,
    title: str,
    description: str,
    automated: str,
    *,
    check: str | None = None,
    reads: tuple[str, ...] = (),
    reusable: bool = False,
    needs_model: bool = True,
) -> Practice:
    section = id.split(".")[0]
    return Practice(id, section, title, description, automated, check, reusable, needs_model, reads)


PRACTICES: tuple[Practice, ...] = (
    _p(
        "data.1",
        "Feature expectations are captured in a schema",
        "What each input may hold (type, presence, domain, range) is written down and reviewed.",
        "Training and evaluation data validate against the checked-in schema file.",
        check="keel.checks.data:data_1",
        reads=("data", "system"),
        reusable=True,
        needs_model=False,
    ),
    _p(
        "data.2",
        "All features are beneficial",
        "Every input earns its place; inputs that add nothing are removed.",
        "Permutation importance on held-out data, correlated inputs shuffled together; "
        "inputs are called useless only when retraining without them keeps quality.",
        check="keel.checks.data:data_2",
        reads=("importance", "model"),
        reusable=True,
    ),
    _p(
        "data.3",
        "No feature's cost is too much",
        "Each input's cost (latency, memory, upstream dependencies) is weighed against its "
        "benefit.",
        "Per-input memory, latency share and computation time are measured against a budget.",
        check="keel.checks.data:data_3",
        reads=("cost", "importance", "model"),
        reusable=True,
    ),
    _p(
        "data.4",
        "Features adhere to meta-level requirements",
        "Inputs follow the team's policy: no banned sources, no sensitive attributes as inputs.",
        "The feature policy in keel.toml is enforced on the model inputs and the schema.",
        check="keel.checks.data:data_4",
        reads=("data", "fairness", "policy"),
        reusable=True,
        needs_model=False,
    ),
    _p(
        "data.5",
        "The data pipeline has appropriate privacy controls",
        "Personal data is found, declared and handled before it reaches models or logs.",
        "A PII scan of training data and serving logs; every PII column has a declared handling.",
        check="keel.checks.data:data_5",
        reads=("data", "engine", "monitor", "registry", "serving"),
        needs_model=False,
    ),
    _p(
        "data.6",
        "New features can be added quickly",
        "Adding an input is a configuration change that flows through the whole pipeline.",
        "A synthetic input added by configuration alone is trained and evaluated within a "
        "time limit.",
        check="keel.checks.data:data_6",
        reads=("model", "new_feature"),
        reusable=True,
    ),
    _p(
        "data.7",
        "All input feature code is tested",
        "Feature code has tests, and survives odd inputs (nulls, empty frames, extremes).",
        "Coverage of the feature module by the user's tests, and property-based probes.",
        check="keel.checks.data:data_7",
        reads=("model",),
        needs_model=False,
    ),
    _p(
        "model.1",
        "Model specification is reviewed and submitted",
        "Training code and configuration live in version control, clean, and each model "
        "records its commit.",
        "Training code and keel.toml are tracked by git with no uncommitted change, and the "
        "serving version was registered from a commit with its code committed.",
        check="keel.checks.model:model_1",
        reads=("model", "registry"),
        needs_model=False,
    ),
    _p(
        "model.2",
        "Offline and online metrics correlate",
        "Improvements measured offline translate into improvements in what users experience.",
        "Rank correlation, across model versions, of offline metrics and metrics on served, "
        "labelled data.",
        check="keel.checks.model:model_2",
        reads=("data", "engine", "model", "monitor", "registry", "serving", "system"),
        needs_model=False,
    ),
    _p(
        "model.3",
        "All hyperparameters have been tuned",
        "Configured hyperparameters are near the best values a search would find.",
        "A recorded search, or a sensitivity sweep around the configured values.",
        check="keel.checks.model:model_3",
        reads=("data", "model", "registry", "tuning"),
    ),
    _p(
        "model.4",
        "The impact of model staleness is known",
        "How fast quality decays with model age is measured, so retraining can be scheduled.",
        "Models trained on older windows are evaluated on the newest: a quality-versus-age curve.",
        check="keel.checks.model:model_4",
        reads=("model", "staleness", "system"),
        reusable=True,
    ),
    _p(
        "model.5",
        "A simpler model is not better",
        "The model's complexity is justified by a margin over simple baselines.",
        "Constant, linear and shallow-tree baselines trained on the same data, compared on "
        "the primary metric.",
        check="keel.checks.model:model_5",
        reads=("baseline", "model"),
        reusable=True,
    ),
    _p(
        "model.6",
        "Model quality is sufficient on all important data slices",
        "Good overall quality does not hide a group of examples the model serves badly.",
        "Metrics per configured slice and per automatically found worst slice, against thresholds.",
        check="keel.checks.model:model_6",
        reads=("slices", "system"),
        reusable=True,
    ),
    _p(
        "model.7",
        "The model has been tested for considerations of inclusion",
        "The model treats sensitive groups comparably, and no input stands in for a sensitive "
        "attribute.",
        "Fairness metrics across sensitive groups and the association of every input with "
        "each attribute.",
        check="keel.checks.model:model_7",
        reads=("fairness", "model"),
        reusable=True,
    ),
    _p(
        "infra.1",
        "Training is reproducible",
        "Training twice from the same inputs gives the same model.",
        "Two trainings in separate processes, predictions and metrics compared.",
        check="keel.checks.infra:infra_1",
        reads=("model", "reproducibility"),
        reusable=True,
    ),
    _p(
        "infra.2",
        "Model specification code is unit tested",
        "The training code is exercised by fast tests that catch breakage before a full run.",
        "A generated smoke test trains on rows synthesised from the schema and checks the outputs.",
        check="keel.checks.infra:infra_2",
        reads=("data", "model", "smoke", "system"),
    ),
    _p(
        "infra.3",
        "The full ML pipeline is integration tested",
        "Every stage from raw data to a served prediction runs together in a test.",
        "Load, validate, featurise, train, evaluate, register, serve and compare, on a sample.",
        check="keel.checks.infra:infra_3",
        reads=("data",),
        reusable=True,
    ),
    _p(
        "infra.4",
        "Model quality is validated before attempting to serve it",
        "A model reaches users only after passing quality thresholds and a regression check.",
        "The registry gate is configured and the serving model holds a passing recorded verdict.",
        check="keel.checks.infra:infra_4",
        reads=("gate",),
    ),
    _p(
        "infra.5",
        "The model allows debugging by observing the step-by-step computation",
        "One example can be followed from raw input through each stage to its prediction.",
        "`keel explain` on sampled rows; per-input contributions add up to the prediction.",
        check="keel.checks.infra:infra_5",
        reads=("explain", "model"),
        reusable=True,
    ),
    _p(
        "infra.6",
        "Models are tested via a canary process before they enter production",
        "A new model serves a small share of live traffic before it serves everyone.",
        "A canary decided on error rate, latency and prediction distribution against the "
        "serving model.",
        check="keel.checks.infra:infra_6",
        reads=("canary",),
        needs_model=False,
    ),
    _p(
        "infra.7",
        "Models can be quickly and safely rolled back",
        "Returning to the previous model is one fast, rehearsed step that drops no requests.",
        "A rollback drill under load measures the time taken and the failed requests.",
        check="keel.checks.infra:infra_7",
        reads=("drill",),
        needs_model=False,
    ),
    _p(
        "monitor.1",
        "Dependency changes result in notification",
        "A change in packages, code or upstream data is noticed before it silently changes "
        "the model.",
        "A fingerprint stored with each model is compared with the present; differences notify.",
        check="keel.checks.monitor:monitor_1",
        reads=("registry",),
        needs_model=False,
    ),
    _p(
        "monitor.2",
        "Data invariants hold for inputs",
        "Serving inputs satisfy the same expectations as training inputs.",
        "Serving logs validate against the training schema.",
        check="keel.checks.monitor:monitor_2",
        reads=("data", "engine", "monitor", "registry", "serving"),
        needs_model=False,
    ),
    _p(
        "monitor.3",
        "Training and serving are not skewed",
        "Features computed at serving time equal those the training code would compute.",
        "Logged serving examples recomputed with the training code, and distributions compared.",
        check="keel.checks.monitor:monitor_3",
        reads=("data", "engine", "monitor", "registry", "serving", "system"),
        needs_model=False,
    ),
    _p(
        "monitor.4",
        "Models are not too stale",
        "The serving model is younger than the age at which its quality is known to drop.",
        "The serving model's data age against the limit measured by model.4.",
        check="keel.checks.monitor:monitor_4",
        reads=("registry", "staleness", "system"),
        needs_model=False,
    ),
    _p(
        "monitor.5",
        "Models are numerically stable",
        "No NaN or infinity reaches features or predictions; edge cases give finite output.",
        "Logs scanned for non-finite values, and edge-case probes of the model.",
        check="keel.checks.monitor:monitor_5",
        reads=("data", "engine", "model", "monitor", "registry", "serving"),
        needs_model=False,
    ),
    _p(
        "monitor.6",
        "Computing performance has not regressed",
        "Training time, serving latency, throughput and memory do not jump or creep up.",
        "Measured for every model version and compared with earlier versions.",
        check="keel.checks.monitor:monitor_6",
        reads=("data", "engine", "monitor", "registry", "serving"),
        needs_model=False,
    ),
    _p(
        "monitor.7",
        "Prediction quality has not regressed",
        "Quality on served data holds up against the offline evaluation.",
        "Quality per time window from late labels against the offline metric; without labels, "
        "quality estimated from the probabilities (CBPE) and prediction drift.",
        check="keel.checks.monitor:monitor_7",
        reads=("data", "engine", "monitor", "registry", "serving", "system"),
        needs_model=False,
    ),
)

PRACTICE_IDS: tuple[str, ...] = tuple(p.id for p in PRACTICES)
BY_ID: dict[str, Practice] = {p.id: p for p in PRACTICES}
# What `keel monitor` judges on served traffic: the monitoring section, and model.2 (offline
# against online quality).
MONITORING: tuple[str, ...] = (*(p for p in PRACTICE_IDS if p.startswith("monitor.")), "model.2")

POINTS = {
    "pass": 1.0,
    "attested": 0.5,
    "fail": 0.0,
    "not_configured": 0.0,
    "error": 0.0,
    "left_out": 0.0,
}

# (upper bound inclusive, name, meaning), in order; the first bound the score does not exceed wins.
BANDS: tuple[tuple[float, str, str], ...] = (
    (0.0, "research", "A research project, not yet a production system."),
    (1.0, "barely tested", "Barely tested: expect serious reliability holes."),
    (2.0, "first pass", "A first pass at production hardening; more investment is needed."),
    (3.0, "reasonably tested", "Reasonably tested; more of it could be automated."),
    (5.0, "strong", "Strong automated testing and monitoring, fit for mission-critical use."),
    (float("inf"), "exceptional", "Exceptional automated testing and monitoring."),
)


@dataclass(frozen=True)
class Band:
    """The paper's reading of a final score."""

    name: str
    meaning: str


@dataclass
class Score:
    """The score of a set of evidence: per section, final, and the paper's literal count."""

    sections: dict[str, float]
    final: float
    band: Band
    literal_sections: dict[str, float]
    literal_final: float


def band(score: float) -> Band:
    """The band of a final score, in the paper's reading."""
    for upper, name, meaning in BANDS:
        if score <= upper:
            return Band(name, meaning)
    raise ValueError(f"score must be a number. Got {score!r}.")  # pragma: no cover (NaN only)


def points(evidence: Evidence) -> float:
    """Points the paper gives a practice with this evidence (Keel's stricter reading)."""
    return POINTS[evidence.status]


def literal_points(evidence: Evidence) -> float:
    """Points in the paper's literal count: an automated test in place counts, passing or not."""
    if evidence.status in ("pass", "fail"):
        return 1.0
    return 0.5 if evidence.status == "attested" else 0.0


def score(evidence: list[Evidence]) -> Score:
    """Score evidence for any subset of practices; absent practices count 0."""
    seen = {e.practice: e for e in evidence}
    unknown = sorted(set(seen) - set(BY_ID))
    if unknown:
        raise ValueError(f"unknown practice ids: {', '.join(unknown)}")
    sections = {s: 0.0 for s in SECTIONS}
    literal = {s: 0.0 for s in SECTIONS}
    for pid, e in seen.items():
        section = BY_ID[pid].section
        sections[section] += points(e)
        literal[section] += literal_points(e)
    final = min(sections.values())
    return Score(sections, final, band(final), literal, min(literal.values()))
