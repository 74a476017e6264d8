"""Which row `keel explain ROW` means: an example id ([system] id) in the evaluation rows, then
the training rows, or a position `#N` in the evaluation rows; an id naming several rows is
refused with the rows it names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from keel.errors import KeelError
from keel.model.contract import Split


def find_row(
    row_id: str, *, eval_raw: pd.DataFrame, train_raw: pd.DataFrame, id_column: str | None
) -> tuple[Split, int]:
    """The split and position of a row: a value of the `id_column` ([system] id) in the
    evaluation rows, then the training rows; or `#N` (position N in the evaluation rows)."""
    text = str(row_id).strip()
    if text.startswith("#"):
        n = len(eval_raw)
        if not text[1:].isdigit() or int(text[1:]) >= n:
            raise KeelError(
                f"row {text!r}: expected #N with N a position in the evaluation data, 0 to {n - 1}"
            )
        return "eval", int(text[1:])
    column = id_column
    if column is None:
        raise KeelError(
            f"row id {text!r}: keel.toml has no [system] id column; give a position in the "
            "evaluation data instead, such as #0"
        )
    matches: list[tuple[Split, int]] = []
    for split, raw in (("eval", eval_raw), ("train", train_raw)):
        ids = raw[column]
        found = np.flatnonzero(ids.astype(str).to_numpy() == text)
        matches.extend((split, int(p)) for p in found)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise KeelError(_ambiguous(text, column, matches))
    shown = ", ".join(map(str, eval_raw[column].head(3)))
    raise KeelError(
        f'row id {text!r} is not a value of column "{column}" ([system] id) in the evaluation '
        f"or training data; ids look like: {shown}; or give a position such as #0"
    )


AMBIGUOUS_SHOWN = 10


def _ambiguous(text: str, column: str, matches: list[tuple[Split, int]]) -> str:
    """Why a row id that names several rows cannot be explained, listing them."""
    where = {"eval": "evaluation", "train": "training"}
    shown = ", ".join(f"{where[split]} data position {p}" for split, p in matches[:AMBIGUOUS_SHOWN])
    more = f" and {len(matches) - AMBIGUOUS_SHOWN} more" if len(matches) > AMBIGUOUS_SHOWN else ""
    first_eval = next((p for split, p in matches if split == "eval"), None)
    pick = (
        f"; explain one by its position in the evaluation data, e.g. keel explain '#{first_eval}'"
        if first_eval is not None
        else ""
    )
    return (
        f'row id {text!r} matches {len(matches)} rows of column "{column}" ([system] id): '
        f"{shown}{more}. An example id must name one row (data.1 reports repeated ids){pick}"
    )
