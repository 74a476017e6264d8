"""The prediction log, a layer of its own below serving and monitoring.

Servers write records (`keel.log.record`) through `PredictionLog` (`keel.log.writer`): framed
segment files (`keel.log.segments`), group commit and fsync, sealed by size or age. Closed
segments roll into Parquet exactly once (`keel.log.rollup`); damaged bytes are kept aside
(`keel.log.quarantine`). Readers go through `keel.log.read` and the roll-up's `query`, never
around them.
"""
