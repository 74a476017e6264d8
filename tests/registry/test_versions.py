"""Registered versions: listed, found by number or alias, loaded in process or from a remote
store, and refused when unknown or corrupt."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from registries import named, register_pair, state

from keel.errors import RegistryError
from keel.registry.artefact import predict_raw
from keel.registry.promotion import promote
from keel.registry.store import connect
from keel.registry.versions import (
    champion,
    find_version,
    get_version,
    list_versions,
    load_features,
    load_model,
    load_version,
    measure,
)
from keel.training import gate_inputs, registry_ref, train_and_register


def test_load_model_and_predict_raw_in_process_match_offline(good, first):
    model = load_model(registry_ref(good), first.version)
    out = predict_raw(model, good.dataset("eval").raw.head(50))
    np.testing.assert_allclose(out["proba_1"], good.trained.predictions.proba[:50, 1])


def test_a_versions_feature_code_alone_builds_the_model_inputs_its_pyfunc_model_builds(good, first):
    """`load_features` loads the feature code without the estimator (what monitoring reruns
    on logged rows); it builds exactly the model inputs the loaded pyfunc model builds."""
    store = connect(registry_ref(good))
    mv = find_version(store, first.version)
    own = load_features(store, mv)
    assert own.build is not None  # the system has a feature function
    raw = good.dataset("eval").raw.head(200)
    expected, _ = load_version(store, mv).unwrap_python_model().predict_with_inputs(raw)
    built = own.model_inputs(raw)
    assert built.columns.tolist() == expected.columns.tolist()
    assert built.equals(expected)


def test_versions_are_listed_newest_first_and_found_by_number_or_alias(good, first):
    system = named(good, "listing")
    ref = registry_ref(system)
    assert list_versions(ref) == [] and champion(ref) is None
    one = train_and_register(system)
    two = train_and_register(system)
    assert [v.version for v in list_versions(ref)] == [two.version, one.version]
    assert get_version(ref, f"v{one.version}").run_id == one.run_id
    promote(ref, one.version, gate_inputs(system), who="tester")
    assert champion(ref).version == one.version
    assert get_version(ref, "champion").aliases == ["champion"]


def test_unknown_version_is_a_clear_error(good, first):
    ref = registry_ref(good)
    with pytest.raises(RegistryError, match=r"model 'credit' has no version 999; its versions"):
        get_version(ref, 999)
    with pytest.raises(RegistryError, match="has no version or alias 'canary'"):
        promote(ref, "canary", gate_inputs(good))


@pytest.mark.parametrize("damage", ["overwrite", "delete"])
def test_corrupt_artefact_is_refused_and_the_registry_unchanged(good, damage):
    system = named(good, f"corrupt-{damage}")
    ref = registry_ref(system)
    strong, weak = register_pair(good, f"corrupt-{damage}")
    promote(ref, strong, gate_inputs(system))
    pickle = Path(unquote(urlparse(get_version(ref, weak).source).path))
    pickle = pickle / "artifacts" / "estimator.pkl"
    if damage == "overwrite":
        pickle.write_bytes(b"not the model that was registered")
    else:
        pickle.unlink()
    before = state(system)
    with pytest.raises(RegistryError, match=f"version {weak} of '{system.config.registry.model}'"):
        load_model(ref, weak)
    with pytest.raises(RegistryError, match="missing or corrupt"):
        promote(ref, weak, gate_inputs(system), force=True, reason="anyway")
    assert state(system) == before


def test_an_artefact_held_remotely_is_downloaded_once_and_loaded(good, first):
    store = connect(registry_ref(good))
    remote = SimpleNamespace(source=f"runs:/{first.run_id}/model", version=first.version)
    model = load_version(store, remote)
    out = predict_raw(model, good.dataset("eval").raw.head(20))
    np.testing.assert_allclose(out["proba_1"], good.trained.predictions.proba[:20, 1])
    folder = good.keel_dir / "models" / f"credit-v{first.version}"
    assert (folder / ".downloaded").is_file()
    assert load_version(store, remote) is not model  # loaded again from the download


def test_a_version_is_measured_on_raw_rows_through_its_artefact(good, first):
    judged = gate_inputs(good)
    found = measure(
        registry_ref(good), first.version, judged.frame, judged.target, metrics=["roc_auc"]
    )
    assert found == {"roc_auc": pytest.approx(good.trained.metric)}
