"""Keel's data work as Spark jobs: the local profile and validation code, run on each partition.

A profile (`profile_frame`) is computed on the executors: `mapInArrow` hands each partition's
Arrow batches to `keel.data.profile.profile_batches`, the very function the local engine runs;
each partition's profile travels back serialised (`Profile.to_bytes`) and the driver merges
them as they arrive, so its memory holds one profile at a time. Schema validation
(`validate_frame`) counts each partition's anomalies with `keel.data.schema.tally` and judges
the merged counts once (`keel.data.schema.judge`), as local validation does. The results are
the local engine's: counts, nulls, NaN and infinities, minimum, maximum and anomaly counts
exactly; mean and standard deviation to floating-point rounding; quantiles and distinct counts
within their sketches' error bounds (the sketches merge as they do across local batches).

PySpark is an optional dependency (`pip install 'keel[spark]'`); importing this module does not
need it, asking for a session without it is a `KeelError` naming the extra.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from keel.data.profile import Profile, merge, profile_batches
from keel.data.schema import Anomaly, Environment, Schema, Tallies, judge, tally
from keel.data.sources import Source, SqlSource, describe, resolve_paths
from keel.errors import DataError, KeelError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "SparkSettings",
    "profile_frame",
    "read_source",
    "require_pyspark",
    "session",
    "validate_frame",
]

Progress = Callable[[int, int], None]  # (partitions done, partitions)
Rows = TypeVar("Rows", pa.RecordBatch, pa.Table)
EXTRA = "pip install 'keel[spark]'"
MIN_VERSION = (4, 0)
BATCH_ROWS = 65_536  # rows per Arrow batch handed to the profile code, as the local engine reads
STAMP = "keel.timestamp"  # column metadata: the timestamp type in the files ("ns|UTC")
_SCHEME = re.compile(r"^[A-Za-z][\w+.-]*:")  # s3a://, hdfs://, gs://, abfss://, file:, dbfs:
_LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
_QUIET_PANDAS = "ignore:PySpark does not yet fully support pandas:FutureWarning"
_DEFAULTS = {
    "spark.ui.showConsoleProgress": "false",  # Keel shows its own progress
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(BATCH_ROWS),
}


@dataclass(frozen=True)
class SparkSettings:
    """Where to run: the master URL (None: the active session's, or spark-submit's, or
    `local[*]`), the application name and any Spark properties."""

    master: str | None = None
    app_name: str = "keel"
    conf: Mapping[str, Any] = field(default_factory=dict)


def require_pyspark() -> None:
    """A `KeelError` naming the extra when PySpark is missing or older than 4.0."""
    try:
        import pyspark
    except ImportError:
        raise KeelError(
            f"the Spark engine needs PySpark, which is not installed here: {EXTRA}"
        ) from None
    version = tuple(int(p) for p in re.findall(r"\d+", pyspark.__version__)[:2])
    if version < MIN_VERSION:
        raise KeelError(
            f"the Spark engine needs PySpark 4.0 or newer, found {pyspark.__version__}: {EXTRA}"
        )


def session(settings: SparkSettings | None = None) -> SparkSession:
    """The Spark session to run on: the active one if there is one (a notebook's, or one made
    earlier; its master stays, `settings.conf` is applied where Spark allows it at run time),
    else a new one built from `settings`."""
    require_pyspark()
    from pyspark.sql import SparkSession

    settings = settings or SparkSettings()
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in settings.conf.items():
            _set_runtime(active, key, value)
        return active
    master = settings.master
    if master is None and "PYSPARK_SUBMIT_ARGS" not in os.environ and not _submitted():
        master = "local[*]"
    if master is None or master.startswith("local"):
        # Local executors must run this interpreter, the one Keel is installed in.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(settings.app_name)
    if master is not None:
        builder = builder.master(master)
    quiet = {}
    if master is not None and master.startswith("local"):
        quiet = {  # Spark's start-up chatter and PySpark's pandas warning on every worker
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG_CONFIG}",
            "spark.executorEnv.PYTHONWARNINGS": _QUIET_PANDAS,
        }
    conf = {**_DEFAULTS, **quiet, **settings.conf}
    warnings.filterwarnings("ignore", _QUIET_PANDAS.split(":")[1], FutureWarning)
    for key, value in conf.items():
        builder = builder.config(key, _text(value))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Py4J, a missing Java, a bad master URL: one message for all
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KeelError(
            f"Spark could not start (master {master or 'from spark-submit'!r}): {first}; "
            "check the master URL, and that Java 17 or newer is on the PATH or in JAVA_HOME"
        ) from None
    # Keel reports a failed job itself, with Spark's message: a local session keeps quiet
    spark.sparkContext.setLogLevel("FATAL" if quiet else "ERROR")
    return spark


def _submitted() -> bool:
    """Whether this process was started by spark-submit (which sets the master itself)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "SPARK_ENV_LOADED" in os.environ


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _set_runtime(spark: SparkSession, key: str, value: Any) -> None:
    with contextlib.suppress(Exception):  # a static property, fixed when the session started
        spark.conf.set(key, _text(value))


# -- sources -------------------------------------------------------------------------------


def read_source(spark: SparkSession, source: Source, root: Path, *, key: str) -> DataFrame:
    """A source as a Spark DataFrame: Parquet at a path, glob or folder (local, relative to
    `root`, or on any Hadoop-compatible store: `s3a://`, `hdfs://`, `gs://`, ...), a table
    (`table:db.name`), or keel.toml's `{ sql = "..." }` (DuckDB SQL over files, run here)."""
    shown = f"{key} = {describe(source)}"
    if isinstance(source, SqlSource):
        return _from_duckdb(spark, source, root, key=key, shown=shown)
    if source.startswith("table:"):
        with _nanos_as_long(spark, False):
            return _spark_call(lambda: spark.table(source[len("table:") :]), shown)
    if _SCHEME.match(source) and not Path(source).exists():
        paths = [source]
        if source.lower().endswith(".csv"):
            raise _csv(shown)
    else:
        local = Path(source) if Path(source).is_absolute() else root / source
        if local.is_dir():
            paths = [str(local)]
        else:
            files = resolve_paths(source, root, key=key)
            for path in files:
                if path.suffix.lower() == ".csv":
                    raise _csv(shown)
                if path.suffix.lower() not in (".parquet", ".pq"):
                    raise DataError(
                        f"{shown}: {path}: the Spark engine reads Parquet (.parquet), "
                        f"a folder of it, or a table; got {path.suffix or 'no suffix'!r}"
                    )
            paths = [str(p) for p in files]
        stamps = _timestamp_columns(Path(paths[0]), shown)
        if stamps:
            return _marked(spark, paths, stamps, shown)
    with _nanos_as_long(spark, False):  # nanoseconds unseen: an error, never silent numbers
        return _spark_call(lambda: spark.read.parquet(*paths), shown)


@contextlib.contextmanager
def _nanos_as_long(spark: SparkSession, on: bool) -> Iterator[None]:
    """Spark's switch to read nanosecond timestamps as numbers, set while a source's schema is
    read, then as it was (a frame keeps the schema it was read with)."""
    key = "spark.sql.legacy.parquet.nanosAsLong"
    before = spark.conf.get(key, "false")
    spark.conf.set(key, "true" if on else "false")
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _timestamp_columns(path: Path, shown: str) -> dict[str, str]:
    """The file's timestamp columns and their Arrow types ("ns|UTC"): Spark reads them all
    as microseconds in its session's time zone, and nanoseconds (pandas' default) only as
    numbers."""
    import pyarrow.parquet as pq

    if path.is_dir():
        path = next(iter(sorted(path.rglob("*.parquet"))), path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{shown}: {path}: cannot be read as Parquet: {exc}") from None
    return _stamp_types(schema)


def _stamp_types(schema: pa.Schema) -> dict[str, str]:
    """The timestamp columns of an Arrow schema and their types ("ns|UTC", "us|")."""
    return {
        f.name: f"{f.type.unit}|{f.type.tz or ''}" for f in schema if pa.types.is_timestamp(f.type)
    }


def _with_stamps(frame: DataFrame, stamps: Mapping[str, str]) -> DataFrame:
    """The frame with its timestamp columns marked with their types (column metadata)."""
    from pyspark.sql import functions as F

    columns = [
        F.col(c).alias(c, metadata={STAMP: stamps[c]}) if c in stamps else F.col(c)
        for c in frame.columns
    ]
    return frame.select(*columns)


def _marked(spark: SparkSession, paths: list[str], stamps: dict[str, str], shown: str) -> Any:
    """The data with its timestamp columns marked with their types in the files, so the
    executors hand the profile code the timestamps the local engine reads."""
    with _nanos_as_long(spark, any(t.startswith("ns|") for t in stamps.values())):
        frame = _spark_call(lambda: spark.read.parquet(*paths), shown)
    return _with_stamps(frame, stamps)


def _stamps(frame: DataFrame) -> dict[str, str]:
    """The columns `read_source` marked with their timestamp types."""
    return {f.name: f.metadata[STAMP] for f in frame.schema.fields if STAMP in f.metadata}


def _from_duckdb(
    spark: SparkSession, source: SqlSource, root: Path, *, key: str, shown: str
) -> DataFrame:
    """An SQL source of keel.toml (DuckDB SQL over files, as the local engine reads it), run
    here and handed to Spark: for the small tables such sources name, not for the big data
    (give Spark that as Parquet or a table)."""
    from keel.data.sources import read_table

    table = read_table(source, root, key=key)
    stamps = _stamp_types(table.schema)
    # Times without a zone as UTC instants: Spark would read them in its session's zone.
    table = pa.table(
        {
            n: c.cast(pa.timestamp(c.type.unit, "UTC")) if n in stamps and c.type.tz is None else c
            for n, c in zip(table.column_names, table.columns, strict=True)
        }
    )
    return _with_stamps(_spark_call(lambda: spark.createDataFrame(table), shown), stamps)


def _csv(shown: str) -> DataError:
    return DataError(
        f"{shown}: the Spark engine reads Parquet or tables, not CSV (Spark and Arrow would "
        "infer the CSV's types differently); convert it to Parquet, or use the local engine"
    )


def _spark_call(call: Any, shown: str) -> Any:
    try:
        return call()
    except Exception as exc:
        hint = ""
        if "TIMESTAMP(NANOS" in str(exc):  # only local files are looked into beforehand
            hint = (
                "; it holds timestamps in nanoseconds (pandas' default), which Spark reads "
                "only from local files here: write them in microseconds "
                "(`frame.to_parquet(path, coerce_timestamps='us')`)"
            )
        raise DataError(f"{shown}: Spark cannot read it: {_first_line(exc)}{hint}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # Spark's errors lead with a class ("[PATH_NOT_FOUND] Path does not exist: ...")
    return text.splitlines()[0] if text else type(exc).__name__


# -- jobs ------------------------------------------------------------------------------------


def local_types(batch: Rows, stamps: Mapping[str, str]) -> Rows:
    """Rows from Spark (a batch or a table) as the local engine reads them: Spark's large
    strings as strings, timestamps with the unit and time zone of the files (nanoseconds,
    which Spark holds as numbers, as timestamps again)."""
    if not stamps and not any(pa.types.is_large_string(f.type) for f in batch.schema):
        return batch
    arrays = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        if name in stamps:
            unit, tz = stamps[name].split("|", 1)
            if pa.types.is_integer(array.type):  # nanoseconds read as numbers
                array = array.cast(pa.int64()).view(pa.timestamp(unit, tz or None))
            elif pa.types.is_timestamp(array.type):  # a unit the files had: exact
                array = array.cast(pa.timestamp(unit, tz or None))
        elif pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        arrays.append(array)
    return type(batch).from_arrays(arrays, names=batch.schema.names)


def _nonempty(
    batches: Iterator[pa.RecordBatch], stamps: Mapping[str, str]
) -> Iterator[pa.RecordBatch] | None:
    """The partition's batches with rows, or None when it has none."""
    rows = (local_types(b, stamps) for b in batches if b.num_rows)
    first = next(rows, None)
    return None if first is None else itertools.chain([first], rows)


def _one(blob: bytes) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([blob], pa.binary())], names=["part"])


def _profile_partition(stamps: Mapping[str, str]) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """On an executor: the partition's profile, serialised (nothing if it has no rows)."""
        rows = _nonempty(batches, stamps)
        if rows is not None:
            yield _one(profile_batches(rows).to_bytes())

    return run


def _tally_partition(schema: Schema, stamps: Mapping[str, str]) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """On an executor: what validation counts in the partition, serialised."""
        counted = tally((local_types(b, stamps) for b in batches), schema)
        yield _one(json.dumps(counted.to_dict()).encode())

    return run


def _parts(frame: DataFrame, job: Any, where: str, progress: Progress | None) -> Iterator[bytes]:
    """Run `job` on every partition and yield its serialised results as they arrive;
    `progress(done, total)` after each partition's."""
    try:
        total = frame.rdd.getNumPartitions() if progress is not None else 0
        for done, row in enumerate(frame.mapInArrow(job, "part binary").toLocalIterator(), 1):
            if progress is not None:
                progress(min(done, total), total)
            yield row["part"]
    except KeelError:
        raise
    except Exception as exc:
        raise DataError(f"{where}: the Spark job failed: {_executor_error(exc)}") from None


def _executor_error(exc: BaseException) -> str:
    """The message a Keel error on an executor carried, or Spark's own first line."""
    text = str(exc)
    found = re.findall(r"keel\.errors\.\w+Error: (.+)", text)
    return found[-1].strip() if found else _first_line(exc)


def profile_frame(
    frame: DataFrame, *, source: str = "", progress: Progress | None = None
) -> Profile:
    """The profile of a Spark DataFrame, computed per partition and merged on the driver."""
    where = source or "data"
    whole: Profile | None = None
    for blob in _parts(frame, _profile_partition(_stamps(frame)), where, progress):
        part = Profile.from_bytes(blob)
        whole = part if whole is None else merge(whole, part)
    if whole is None:
        raise DataError(f"{where}: the data is empty (0 rows)")
    whole.source = source
    return whole


def validate_frame(
    frame: DataFrame,
    schema: Schema,
    *,
    environment: Environment = "training",
    source: str = "",
    progress: Progress | None = None,
) -> list[Anomaly]:
    """Every anomaly of a Spark DataFrame against the schema: counted per partition on the
    executors, judged once on the driver."""
    merged = Tallies.start(list(frame.columns), schema)
    job = _tally_partition(schema, _stamps(frame))
    for blob in _parts(frame, job, source or "data", progress):
        merged = merged.merge(Tallies.from_dict(json.loads(blob)))
    return judge(merged, schema, environment=environment)
