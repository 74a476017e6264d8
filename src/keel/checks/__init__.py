"""The checks: one plain function per practice id, each taking a System and returning Evidence.

`CHECKS` is the one registry: following an id here finds its code. Practices not listed have
no automated check in this version of Keel; the runner reports them as `not_configured`, and
an attestation in keel.toml still earns them half a point.
"""

from __future__ import annotations

from collections.abc import Callable

from keel.checks.data import data_1, data_2, data_3, data_4, data_5, data_6, data_7
from keel.checks.infra import infra_1, infra_2, infra_3, infra_4, infra_5
from keel.checks.model import model_1, model_3, model_4, model_5, model_6, model_7
from keel.evidence import Evidence
from keel.system import System

Check = Callable[[System], Evidence]

CHECKS: dict[str, Check] = {
    "data.1": data_1,
    "data.2": data_2,
    "data.3": data_3,
    "data.4": data_4,
    "data.5": data_5,
    "data.6": data_6,
    "data.7": data_7,
    "model.1": model_1,
    "model.3": model_3,
    "model.4": model_4,
    "model.5": model_5,
    "model.6": model_6,
    "model.7": model_7,
    "infra.1": infra_1,
    "infra.2": infra_2,
    "infra.3": infra_3,
    "infra.4": infra_4,
    "infra.5": infra_5,
}
