"""Registry test systems: one system registering into a shared SQLite store, its variants, and
what must not change when the registry refuses something (used by tests/registry/)."""

from __future__ import annotations

from systems import binary_frame, write_system
from threadpoolctl import threadpool_limits

from keel.config import parse_config
from keel.registry.audit import history
from keel.registry.store import connect
from keel.registry.versions import list_versions
from keel.system import System
from keel.training import registry_ref, train_and_register

FEATURES = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["x1_x2"] = raw["x1"] * raw["x2"]
    return out
"""
GATE = {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.01}}
WEAK = {"params": {"max_iter": 2, "max_depth": 1, "learning_rate": 0.05}}


def with_ids(n: int, seed: int):
    """`binary_frame` rows with an example id `uid` (s<seed>-<i>) late labels can join on."""
    frame = binary_frame(n, seed=seed)
    frame.insert(0, "uid", [f"s{seed}-{i}" for i in range(n)])
    return frame


def write_with_ids(root):
    """A binary system with feature code and ids under `root/credit`, registering into
    `root/store`: the path of its keel.toml."""
    return write_system(
        root / "credit",
        with_ids(1500, 0),
        with_ids(800, 1),
        files={"sysfeatures.py": FEATURES},
        sections={
            "system": {"id": "uid"},
            "model": {"features": "sysfeatures:build"},
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{root}/store/mlflow.db", "model": "credit"},
        },
    )


def good_system(root) -> System:
    """A system with a feature function, registering into a shared SQLite store, trained."""
    path = write_system(
        root / "credit",
        binary_frame(1500),
        binary_frame(800, seed=1),
        files={"sysfeatures.py": FEATURES},
        sections={
            "model": {"features": "sysfeatures:build"},
            "slices": {"columns": ["group"]},
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{root}/store/mlflow.db", "model": "credit"},
        },
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        system.trained  # noqa: B018
    return system


def variant(system: System, **sections: dict) -> System:
    """The same system (folder, data, cache) with some keel.toml sections changed."""
    data = system.config.model_dump(mode="json", by_alias=True)
    for name, keys in sections.items():
        data[name] = {**data.get(name, {}), **keys}
    return System(parse_config(data), system.root, config_file=system.config_file)


def named(system: System, name: str, **sections: dict) -> System:
    """The system registering under another model name (a fresh registry history)."""
    return variant(system, registry={"model": name}, **sections)


def register_pair(good: System, model: str) -> tuple[int, int]:
    """Register a good and a much weaker version of the system under `model`."""
    strong = train_and_register(named(good, model)).version
    weak = train_and_register(named(good, model, model=WEAK)).version
    return strong, weak


def state(system: System) -> dict:
    """Aliases, version tags and events: what must not change on bad input."""
    ref = registry_ref(system)
    store = connect(ref)
    versions = {v.version: (v.aliases, v.tags) for v in list_versions(ref)}
    return {"versions": versions, "events": len(history(ref)), "model": store.model}
