"""The log's byte scans both ways: compiled (`keel.log._scan`, built at install) and NumPy."""

import pytest

from keel.log import _columnar, _spans, objects


@pytest.fixture(params=["compiled", "numpy"])
def scan_way(request, monkeypatch):
    """Runs a test with the compiled scans, then with the NumPy and Arrow ways they replace."""
    if request.param == "compiled":
        assert _spans._scan is not None, "keel.log._scan is not built (pip install -e . needs gcc)"
    else:
        for module in (_spans, _columnar, objects):
            monkeypatch.setattr(module, "_scan", None)
    return request.param
