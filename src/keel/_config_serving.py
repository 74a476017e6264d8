"""[serving] of keel.toml: served traffic another server logged, and how to read it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from keel._config_section import _Section


class ServingColumns(_Section):
    """[serving.columns]: which column of a foreign table holds each field of a served row."""

    time: str = Field(min_length=1)
    prediction: str = Field(min_length=1)
    id: str | None = None  # the example id late labels join on
    model_version: str | None = None  # the version that served the row ([serving] versions)
    probabilities: str | None = None  # a JSON object per row: class -> probability
    latency: str | None = None
    latency_unit: Literal["s", "ms"] = "s"
    inputs: list[str] | str | None = None  # flat columns, or one JSON column; None: the rest
    model_inputs: str | None = None  # a JSON column of what the model was given, when logged


class ServingSection(_Section):
    """[serving]: the served traffic to monitor when another server wrote it. Its records are
    taken exactly once into Keel's own log ([data] serving_log) and judged like Keel's own."""

    format: Literal["keel", "table", "sagemaker", "cloudevents", "bentoml"] = "keel"
    source: str | None = None  # the foreign files: a path, folder, glob or URL
    model_version: int | None = Field(None, ge=1)  # the version that served version-less rows
    versions: dict[str, int] = Field(default_factory=dict)  # a foreign version -> a registered
    columns: ServingColumns | None = None  # format "table" only

    @model_validator(mode="after")
    def _what_each_format_needs(self) -> ServingSection:
        if self.format != "keel" and not self.source:
            raise ValueError(f'format "{self.format}" needs [serving] source: where its files are')
        if self.format == "keel" and self.source:
            raise ValueError('[serving] source needs a foreign format, e.g. format = "table"')
        if (self.format == "table") != (self.columns is not None):
            raise ValueError(
                'format "table" needs [serving.columns] (time, prediction, ...); other formats '
                "take none"
                if self.format == "table"
                else f'[serving.columns] is for format "table", not "{self.format}"'
            )
        return self
