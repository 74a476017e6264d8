"""Puts the example system's folder (the one with keel.toml) first on sys.path, as Keel does."""

import sys
from pathlib import Path

SYSTEM = str(Path(__file__).resolve().parents[1])
if SYSTEM not in sys.path:
    sys.path.insert(0, SYSTEM)
