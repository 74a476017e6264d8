"""Model evaluation on plain data: metrics, baselines, slices, fairness, importance, costs,
tuning, staleness, reproducibility, smoke tests and explanations.

Functions here take frames, arrays, settings as plain values, and the user's code as callables
(`keel.model.contract`), never a `System`: `keel.checks` and `keel.explain` read the System and
call them.
"""
