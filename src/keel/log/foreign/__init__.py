"""Logs other servers wrote, taken into Keel's prediction log exactly once.

A team serving with KServe, Seldon, SageMaker, BentoML or its own service points `[serving]`
at what that server logs. Before each roll-up, `keel.log.foreign.importer.take_foreign` reads
the source's new records (whole new files, or the new complete lines of JSON-lines files),
turns each into a Keel record (`keel.log.record`, format 1) with the format's reader, and
writes them as sealed segments of Keel's own log, so the same exactly-once roll-up and intake
take them and every monitoring judgement reads them as it reads Keel's own.

One module per format, each a reader with the signature of `Reader`:

    table.py        Parquet, CSV or JSON lines with a column mapping ([serving.columns])
    sagemaker.py    SageMaker Data Capture JSON lines (captureData, eventMetadata)
    cloudevents.py  KServe / Seldon payload logging: request and response CloudEvents, by id
    bentoml.py      BentoML's monitoring output (bentoml.monitor)

A field the foreign server does not log stays out of the record (no `model_inputs`, no
`latency_seconds`): the judgement that needs it says so, naming the field, and never passes on
what was not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ForeignSettings:
    """`[serving]` as plain values (the log layer reads no configuration)."""

    format: str  # "table", "sagemaker", "cloudevents" or "bentoml"
    source: str  # a path, folder, glob or URL of the foreign files
    model_version: int | None = None  # the registered version that served version-less rows
    versions: dict[str, int] = field(default_factory=dict)  # foreign version -> registered
    columns: dict[str, Any] = field(default_factory=dict)  # format "table": field -> column


class Reader(Protocol):
    """Keel records (dicts of `keel.log.record.Record`) from one foreign file's bytes; for a
    JSON-lines format, `data` holds complete lines only."""

    def __call__(self, data: bytes, name: str, settings: ForeignSettings) -> Iterator[dict]: ...
