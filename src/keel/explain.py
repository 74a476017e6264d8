"""How one example of a System becomes its prediction: `keel explain` and infra.5.

The adapter from a System to `keel.model.explain`: it finds a row by its [system] id or
position, takes the system's trained model, its datasets and [explain] tolerance, and masks
the columns the schema declares as personal data. Outside `keel.checks`, so that `keel explain`
loads no check.
"""

from __future__ import annotations

from keel.data.schema import load_schema
from keel.model.contract import Split
from keel.model.explain import Explanation, needs_background
from keel.model.explain import explain_rows as explain_model_rows
from keel.model.explain_row import find_row as find_model_row
from keel.system import System


def find_row(system: System, row_id: str) -> tuple[Split, int]:
    """The split and position of a row: a value of [system] id, or `#N` (position N in the
    evaluation data)."""
    return find_model_row(
        row_id,
        eval_raw=system.raw("eval"),
        train_raw=system.raw("train"),
        id_column=system.config.system.id,
    )


def pii_columns(system: System) -> dict[str, str]:
    """Columns the schema declares as personal data, with their kind, to mask when shown."""
    path = system.root / system.config.data.schema_file
    if not path.exists():
        return {}
    features = load_schema(path).features
    return {n: f.pii_kind or "name_like_column" for n, f in features.items() if f.pii != "none"}


def explain_rows(
    system: System, split: Split, positions: list[int], *, row_ids: list[str] | None = None
) -> list[Explanation]:
    """Explanations of rows of a split, by position, with the system's trained model."""
    estimator = system.trained.estimator
    data = system.dataset(split)
    train = system.dataset("train") if needs_background(estimator) else None
    return explain_model_rows(
        estimator,
        data.raw,
        data.inputs,
        positions,
        predict=system.predict,
        split=split,
        tolerance=system.config.explain.tolerance,
        train_inputs=None if train is None else train.inputs,
        seed=system.config.model.seed,
        id_column=system.config.system.id,
        pii_columns=pii_columns(system),
        row_ids=row_ids,
    )


def explain(system: System, row_id: str) -> Explanation:
    """How the row `row_id` becomes its prediction (see `find_row` for the id)."""
    split, position = find_row(system, row_id)
    return explain_rows(system, split, [position], row_ids=[str(row_id).strip()])[0]
