"""keel.toml written back from its parsed form reads the same."""

from __future__ import annotations

import datetime as dt
import tomllib

from keel.selftest._toml import dumps


def test_a_config_with_inline_and_nested_tables_reads_back_the_same() -> None:
    data = {
        "system": {"name": "credit-default", "task": "binary", "target": "defaulted"},
        "data": {"train": {"sql": "SELECT * FROM 'data/*.parquet' WHERE x > 'a\"b'"}},
        "model": {"params": {"max_iter": 200, "learning_rate": 0.1}, "seed": 7},
        "policy": {"deny": ["ssn*", "*_raw"], "require_owner": False},
        "gate": {"min": {"roc_auc": 0.75}},
        "attest": {
            "model.2": {"evidence": "https://x", "by": "A. Analyst", "date": dt.date(2026, 10, 30)}
        },
        "serving": {"routes": {"a": {"share": 0.5}}},
    }
    assert tomllib.loads(dumps(data)) == data
