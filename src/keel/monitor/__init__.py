"""Monitoring what was served: the prediction log read once, profiled per window, and judged.

    windows.py   time windows: which window a logged time falls in
    summary.py   what one rolled part of the log holds per window (mergeable), and the merge
    intake.py    the log read exactly once: each rolled part summarised, then marked done
    drift.py     distances between profiles (skew, drift), judged against sampling noise

The layer reads the prediction log (`keel.serve`), profiles with `keel.data`, and reads the
registry; it takes plain values and callables, never a System or the configuration.
"""
