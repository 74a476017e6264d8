"""Model versions on MLflow, reached through a `RegistryRef`: never through a `keel.System`.

Where things live, for a model NAME in the tracking store `[registry] uri`:

    experiment keel/NAME           one run per registered version: params, metrics, the model
    experiment keel/NAME/audit     one run per promotion, refused promotion or rollback
    experiment keel/SYSTEM/scores  one run per `keel score`
    registered model NAME          its versions; the alias `champion` marks the serving one

The modules, one concept each:

    ref.py            RegistryRef: the store's uri, the system's folder, the model's name
    store.py          the connection: tracking URI, SQLite file, locks, `connect`
    artefact.py       the pyfunc model that carries the feature code: what serving loads, so
                      it imports only NumPy, pandas, MLflow's pyfunc and the user's code
    lineage.py        the lineage record's shape, its tags, reading it back
    registration.py   a training run, and registering its model as a new version
    versions.py       ModelVersion; listing, finding, loading and measuring versions
    gate.py           the gate's inputs, rules and Verdict
    promotion.py      promotion through the gate, and rollback
    audit.py          the events of promotions and rollbacks, and the history of scores
    drill.py          the versions a rollback drill swaps, and its recorded results
    recovery.py       cleaning up after trainings whose process died

`keel.training` is the adapter from a System: it builds the `RegistryRef`, trains, and
gathers what is registered and what the gate judges on as plain data. Everything a user can
get wrong (an unreachable registry, an unknown version, a corrupt artefact) raises
`RegistryError` before the registry changes.

The public names below are loaded on first use, so importing `keel.registry.artefact` (as a
loaded model does) loads nothing else of the registry.
"""

from __future__ import annotations

_LAZY = {
    "CHAMPION": "keel.registry.versions",
    "Candidate": "keel.registry.registration",
    "Event": "keel.registry.audit",
    "GateInputs": "keel.registry.gate",
    "Lineage": "keel.registry.lineage",
    "ModelVersion": "keel.registry.versions",
    "RegistryError": "keel.errors",
    "RegistryRef": "keel.registry.ref",
    "TrainedModel": "keel.registry.artefact",
    "Verdict": "keel.registry.gate",
    "champion": "keel.registry.versions",
    "champion_stack": "keel.registry.audit",
    "connect": "keel.registry.store",
    "get_version": "keel.registry.versions",
    "history": "keel.registry.audit",
    "judge": "keel.registry.gate",
    "list_versions": "keel.registry.versions",
    "load_model": "keel.registry.versions",
    "measure": "keel.registry.versions",
    "model_uri": "keel.registry.versions",
    "predict_raw": "keel.registry.artefact",
    "promote": "keel.registry.promotion",
    "recent_scores": "keel.registry.audit",
    "record_score": "keel.registry.audit",
    "register": "keel.registry.registration",
    "rollback": "keel.registry.promotion",
    "tracking_uri": "keel.registry.store",
    "training_run": "keel.registry.registration",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keel.registry' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = sorted(_LAZY)
