"""`pii.scan` looks at each distinct text value once, weighted by its count: the findings are
the same as looking at every value (the intake scans every logged row this way)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from keel.data import pii


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def _tricky(rows: int = 4_000, seed: int = 3) -> pa.Table:
    """Repeating text with personal data in 1% of the rows, nulls, unicode, weak kinds."""
    rng = np.random.default_rng(seed)

    def some(values: list, share: float, base: list) -> list:
        out = list(base)
        for i in np.flatnonzero(rng.random(rows) < share):
            out[i] = values[int(rng.integers(0, len(values)))]
        return out

    categories = [["red", "green", "blue", "grün", None][i] for i in rng.integers(0, 5, rows)]
    emails = ["ann@example.org", "bob.smith@mail.example.com", "zoë@exämple.de"]
    phones = ["call 415 555 4421", "+1-415-555-0199", "555 0199", "tel: 020 7946 0018"]
    card = _luhn_complete("411111111111111")
    ids = [f"{int(v):016d}" for v in rng.integers(10**15, 10**16 - 1, 40)]  # random, ids
    return pa.table(
        {
            "colour": categories,
            "note": some(emails + phones + [card, "123-45-6789"], 0.01, categories),
            "weak": some(["v 1.2.3.4", "10.0.0.1", "555 0199"], 0.02, ["n/a"] * rows),
            "order_id": some(ids, 0.3, ["none"] * rows),
            "email": some(["x@y.org"], 0.5, ["yes", "no"] * (rows // 2)),
            "first_name": [["Ann", "Bob", "Zoë"][i % 3] for i in range(rows)],
            "count": pa.array(rng.integers(0, 5, rows), pa.int64()),
            "card_number": pa.array([int(card) if i % 7 == 0 else i for i in range(rows)]),
            "score": rng.normal(size=rows),
            "empty": pa.nulls(rows, pa.string()),
        }
    )


def test_distinct_scan_finds_what_the_value_by_value_scan_finds() -> None:
    table = _tricky()
    for sample, min_share in ((table.num_rows, 0.05), (500, 0.05), (table.num_rows, 0.0)):
        fast = pii.scan(table, sample=sample, min_share=min_share)
        reference = pii.scan(table, sample=sample, min_share=min_share, distinct=False)
        assert fast == reference
    found = {(f.column, f.kind) for f in pii.scan(table, sample=table.num_rows)}
    assert {("note", "email"), ("note", "card"), ("note", "ssn"), ("email", "email")} <= found


def test_distinct_scan_counts_rows_not_distinct_values() -> None:
    rows = ["ann@example.org"] * 30 + ["plain"] * 70
    (finding,) = pii.scan(pa.table({"c": rows}), sample=100)
    assert (finding.kind, finding.matches, finding.share) == ("email", 30, 0.3)
