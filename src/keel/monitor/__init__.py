"""Monitoring what was served: the prediction log read once, profiled per window, and judged.

    windows.py       time windows: which window a logged time falls in, and its label
    summary.py       what one rolled part of the log holds per window (mergeable), and the merge
    intake.py        the log read exactly once: each rolled part summarised, then marked done
    outputs.py       what the intake keeps of each served row for label joins (no inputs)
    state.py         the windows taken for a run, the champion, the serving-version gate
    gates.py         the verdicts given before judging: nothing serves, nothing served, too few
    drift.py         distances between profiles (skew, drift), judged against sampling noise
    sampling.py      the uniform sample of a window, and what it could have missed

Each practice's whole judgement lives in one module: a frozen `<Practice>Inputs` of plain values
(thresholds, windows, the champion; callables for what is read only past a gate) in, its
`keel.evidence.Evidence` out. `keel.checks.monitor` holds the thin adapters that gather them.

    monitor.1  dependencies.py  judge_dependencies: the stored fingerprint against the present
    monitor.2  anomalies.py     judge_anomalies: anomaly rate per input and window
    monitor.3  skew.py          judge_skew: per-example skew, training/serving skew, drift
               (same_example.py: its part (d), the same example joined by id)
    monitor.4  staleness.py     judge_staleness: training-data age against model.4's limit
    monitor.5  stability.py     judge_stability: NaN/inf served, edge-case probes
    monitor.6  regressions.py   judge_performance: jumps, creep and leaks per version
               (performance.py: the measures, their maths and the benchmark)
    monitor.7  quality_verdict.py  judge_quality: quality in the newest windows, with late
               labels or estimated (quality.py: the maths; online.py: each window judged from
               the rows the intake kept, stored with what it rests on; outputs.py: those rows)

The layer reads the prediction log (`keel.log`), profiles with `keel.data`, and reads the
registry; it takes plain values and callables, never a System or the configuration.
"""
