"""`keel selftest`: each automated check proved on the user's own system by planted faults."""

from keel.selftest.result import FaultResult, SelftestResult
from keel.selftest.runner import run_selftest

__all__ = ["FaultResult", "SelftestResult", "run_selftest"]
