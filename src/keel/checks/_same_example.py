"""monitor.3's part (d): the same example at training and serving, joined by id.

Served rows whose example id the training source (`[data] train`, every row of it) also holds
are compared with their training rows, raw input by raw input, on the engine the log was taken
on (`keel.monitor.same_example`). An input whose share of differing rows exceeds
`[monitor] max_skewed_share` fails monitor.3 (judged as part (a)'s shares are). No served id
in the training data means nothing was compared: that part then neither passes nor fails the
check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keel.checks._monitor_state import MonitorState
from keel.data.idskew import IdSkew
from keel.system import System


@dataclass
class SameExample:
    """What part (d) compared in one window, per raw input; `note` says why nothing was."""

    found: dict[str, IdSkew] = field(default_factory=dict)
    note: str = ""

    @property
    def compared(self) -> int:
        return max((s.compared for s in self.found.values()), default=0)


def same_example(system: System, state: MonitorState, window: str, skip: set[str]) -> SameExample:
    """Part (d) on the window starting at `window` (every model version served in it)."""
    from keel.log.writer import rolled_dir

    id = system.config.system.id
    if id is None:
        return SameExample(note="no [system] id: served rows cannot be joined to training rows")
    rolled = rolled_dir(state.log_root)
    seconds = system.config.monitor.window
    source = system.config.data.train
    if state.spark is None:
        from keel.data.sources import read_table
        from keel.monitor.same_example import same_example_skew

        training = read_table(source, system.root, key="[data] train")
        columns = [c for c in training.column_names if c not in skip]
        found = same_example_skew(rolled, window, seconds, training, id=id, columns=columns)
    else:
        from keel.data.spark import read_source, session
        from keel.monitor.same_example import same_example_skew_on_spark

        spark = session(state.spark)
        frame = read_source(spark, source, system.root, key="[data] train")
        columns = [c for c in frame.columns if c not in skip]
        found = same_example_skew_on_spark(
            spark, rolled, window, seconds, frame, id=id, columns=columns
        )
    result = SameExample(found)
    if not result.compared:
        result.note = "no served example id is in the training data"
    return result
