"""Per-example skew by id (keel.data.idskew): the rules, and Spark giving the local answers."""

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.data.idskew import IdSkew, id_skew, id_skew_frame
from keel.data.spark import read_source
from keel.errors import DataError

NAN, INF = float("nan"), float("inf")
JAN = datetime(2025, 1, 1)


def _one(served: dict, training: dict, **kwargs) -> IdSkew:
    """The skew of the one column `v` between two small tables keyed by `id`."""
    return id_skew(pa.table(served), pa.table(training), id="id", **kwargs)["v"]


def _faulty(n: int = 200) -> tuple[pa.Table, pa.Table, list[str]]:
    """Training rows 0..n-1 and served rows for the even ids, where `price` went through a
    faulty serving path (times 1.1) for every id divisible by 7; the faulty ids come third."""
    ids = np.arange(n)
    training = pa.table(
        {
            "example_id": ids,
            "price": ids * 1.5,
            "city": [f"c{i % 5}" for i in ids],
            "flag": ids % 3 == 0,
            "only_training": ids,
        }
    )
    served_ids = ids[ids % 2 == 0]
    price = np.where(served_ids % 7 == 0, served_ids * 1.5 * 1.1, served_ids * 1.5)
    served = pa.table(
        {
            "example_id": [str(i) for i in served_ids],
            "price": price,
            "city": [f"c{i % 5}" for i in served_ids],
            "flag": served_ids % 3 == 0,
            "only_served": served_ids,
        }
    )
    faulty = sorted(str(i) for i in served_ids if i % 7 == 0 and i != 0)  # 0 * 1.1 == 0
    return served, training, faulty


# -- the local engine ------------------------------------------------------------------------


def test_a_faulty_serving_path_is_counted_in_its_column_with_the_smallest_ids_as_examples():
    served, training, faulty = _faulty()
    skew = id_skew(served, training, id="example_id")
    assert set(skew) == {"price", "city", "flag"}  # a column in one table only is not compared
    assert skew["price"] == IdSkew(compared=100, skewed=len(faulty), examples=faulty[:5])
    assert faulty[:5] == ["112", "126", "14", "140", "154"]  # ordered as text
    assert skew["city"] == IdSkew(100, 0, []) and skew["flag"] == IdSkew(100, 0, [])


def test_ids_that_do_not_overlap_compare_nothing_in_every_column():
    served, training, _ = _faulty()
    elsewhere = served.set_column(0, "example_id", pa.array([f"x{i}" for i in range(100)]))
    skew = id_skew(elsewhere, training, id="example_id")
    assert skew == {c: IdSkew(0, 0, []) for c in ("price", "city", "flag")}


def test_an_integer_id_in_training_joins_the_same_id_as_text_in_the_log():
    skew = _one({"id": ["17", "18", "x"], "v": [1, 2, 3]}, {"id": [17, 18, 19], "v": [1, 5, 3]})
    assert skew == IdSkew(compared=2, skewed=1, examples=["18"])


def test_whole_float_ids_join_as_integers_and_other_floats_and_nulls_never_join():
    training = {"id": [17.0, 18.5, NAN, None, 2.0**60], "v": [1, 2, 3, 4, 5]}
    served = {"id": ["17", "18.5", "nan", None, str(2**60)], "v": [9, 9, 9, 9, 9]}
    assert _one(served, training) == IdSkew(compared=1, skewed=1, examples=["17"])


@pytest.mark.parametrize(
    ("served", "training", "differ"),
    [
        ([3, 3, 3], [3.0, 3.0000000000001, 3.1], [False, False, True]),  # int vs float, 1e-9
        ([1e12, 1e12, 0.0], [1e12 + 999, 1e12 + 1001, -0.0], [False, True, False]),
        ([NAN, NAN, 1.0], [NAN, 1.0, NAN], [False, True, True]),
        ([INF, INF, 1e300], [INF, -INF, INF], [False, True, True]),  # infinity is near nothing
        ([None, None, 1.0], [None, 1.0, None], [False, True, True]),
        ([None, NAN, None], [NAN, None, None], [True, True, False]),  # NaN is a value, not null
        (["a", "a", ""], ["a", "A", None], [False, True, True]),
        ([True, False, None], [True, True, False], [False, True, True]),
    ],
)
def test_values_are_equal_by_the_rules_of_their_kind(served, training, differ):
    skew = _one({"id": [0, 1, 2], "v": served}, {"id": [0, 1, 2], "v": training})
    assert skew.compared == 3
    assert skew.examples == [str(i) for i, d in enumerate(differ) if d]


@pytest.mark.parametrize(("served", "training"), [(True, 1), ("1", 1), (1, "1"), ("true", True)])
def test_values_of_different_kinds_differ(served, training):
    assert _one({"id": [1], "v": [served]}, {"id": [1], "v": [training]}).skewed == 1
    assert _one({"id": [1], "v": [None]}, {"id": [1], "v": [training]}).skewed == 1
    assert _one({"id": [1], "v": [None]}, {"id": [1], "v": pa.nulls(1, pa.string())}).skewed == 0


def test_times_compare_as_instants_whether_timestamps_dates_or_iso_strings():
    at = JAN + timedelta(hours=3, microseconds=250)
    training = {
        "id": list(range(8)),
        "v": pa.array([at] * 6 + [JAN, at], pa.timestamp("ns")),  # no zone: UTC
    }
    served = [
        "2025-01-01T03:00:00.000250",  # no offset: UTC
        "2025-01-01T03:00:00.000250Z",
        "2025-01-01T05:00:00.000250+02:00",
        "2025-01-01T03:00:00.00025+00:00",
        "2025-01-01T03:00:00",  # a different instant
        "not a time",
        "2025-01-01",  # a date alone: midnight
        None,
    ]
    skew = _one({"id": list(range(8)), "v": served}, training)
    assert skew.examples == ["4", "5", "7"]


def test_timestamps_of_any_unit_and_zone_and_dates_compare_as_instants():
    utc = pa.array([JAN + timedelta(microseconds=1), JAN], pa.timestamp("us", "UTC"))
    ns = pa.array([1_735_689_600_000_001_999, 1_735_689_600_000_000_000], pa.timestamp("ns"))
    date = pa.array([JAN.date(), JAN.date()], pa.date32())
    paris = utc.cast(pa.timestamp("ms", "Europe/Paris"), safe=False)  # to the ms
    assert _one({"id": [0, 1], "v": ns}, {"id": [0, 1], "v": utc}).skewed == 0  # ns floored
    assert _one({"id": [0, 1], "v": date}, {"id": [0, 1], "v": utc}).examples == ["0"]
    assert _one({"id": [0, 1], "v": paris}, {"id": [0, 1], "v": utc}).examples == ["0"]
    assert _one({"id": [0, 1], "v": paris}, {"id": [0, 1], "v": date}).skewed == 0


def test_a_training_id_that_repeats_is_ambiguous_and_a_served_id_that_repeats_counts_twice():
    training = {"id": [1, 1, 2, 3], "v": [10, 10, 20, 30]}
    served = {"id": ["1", "2", "2", "3", "3"], "v": [10, 21, 21, 30, 31]}
    assert _one(served, training) == IdSkew(compared=4, skewed=3, examples=["2", "3"], ambiguous=1)


def test_columns_asked_for_are_compared_and_those_in_one_table_are_left_out():
    served, training, _ = _faulty()
    skew = id_skew(
        served, training, id="example_id", columns=["price", "only_served", "example_id"]
    )
    assert list(skew) == ["price"]


def test_columns_of_kinds_without_a_rule_are_left_out_unless_asked_for():
    served = pa.table({"id": [1], "v": [1], "tags": [[1, 2]]})
    training = pa.table({"id": [1], "v": [1], "tags": [[1, 2]]})
    assert list(id_skew(served, training, id="id")) == ["v"]
    with pytest.raises(DataError, match="column 'tags' cannot be compared"):
        id_skew(served, training, id="id", columns=["tags"])


@pytest.mark.parametrize(
    ("served", "training", "kwargs", "message"),
    [
        ({"key": [1]}, {"id": [1]}, {}, "the served data has no id column 'id'"),
        ({"id": [1]}, {"id": [1]}, {"columns": ["nope"]}, "'nope' is in neither"),
        ({"id": [b"1"]}, {"id": [1]}, {}, "the served id column holds binary"),
        ({"id": [1]}, {"id": [JAN]}, {}, "the training id column holds timestamp"),
    ],
)
def test_what_cannot_be_compared_is_a_data_error_naming_it(served, training, kwargs, message):
    with pytest.raises(DataError, match=message):
        id_skew(pa.table(served), pa.table(training), id="id", **kwargs)


# -- a plain-Python reference, row by row ----------------------------------------------------


def _same(a, b) -> bool:
    """The rules of equality, one pair of Python values at a time."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    finite = math.isfinite(a) and math.isfinite(b)
    return a == b or (finite and abs(a - b) <= 1e-9 * max(abs(a), abs(b)))


def _reference(served: pa.Table, training: pa.Table, column: str) -> tuple[int, int, int]:
    """(compared, skewed, ambiguous), served row by served row."""
    rows: dict[str, list] = {}
    for key, value in zip(training["id"].to_pylist(), training[column].to_pylist(), strict=True):
        if key is not None:
            rows.setdefault(str(key), []).append(value)
    compared = skewed = ambiguous = 0
    for key, value in zip(served["id"].to_pylist(), served[column].to_pylist(), strict=True):
        found = rows.get(key, []) if key is not None else []
        if len(found) > 1:
            ambiguous += 1
        elif found:
            compared += 1
            skewed += not _same(value, found[0])
    return compared, skewed, ambiguous


NUMBERS = [0.0, -0.0, 1.0, 3.0, 3.0 + 1e-12, 3.0 + 1e-6, 1e300, NAN, INF, -INF, None]
KINDS = {
    "int": (pa.int64(), st.one_of(st.none(), st.integers(-3, 3))),
    "float": (pa.float64(), st.one_of(st.sampled_from(NUMBERS), st.floats(-4, 4, width=16))),
    "str": (pa.string(), st.sampled_from(["a", "b", "", "é", "3", None])),
    "bool": (pa.bool_(), st.sampled_from([True, False, None])),
}


@st.composite
def _tables(draw):
    served_kind, training_kind = (
        draw(st.sampled_from(list(KINDS))),
        draw(st.sampled_from(list(KINDS))),
    )

    def table(kind, ids):
        n = draw(st.integers(0, 12))
        type_, values = KINDS[kind]
        return pa.table(
            {
                "id": pa.array(draw(st.lists(ids, min_size=n, max_size=n))),
                "v": pa.array(draw(st.lists(values, min_size=n, max_size=n)), type_),
            }
        )

    served = table(served_kind, st.one_of(st.none(), st.sampled_from("0123456")))
    training = table(training_kind, st.one_of(st.none(), st.integers(0, 6)))
    return served, training


@settings(max_examples=300, deadline=None)
@given(_tables())
def test_the_skewed_count_equals_a_row_by_row_reference(tables):
    served, training = tables
    skew = id_skew(served, training, id="id")["v"]
    assert (skew.compared, skew.skewed, skew.ambiguous) == _reference(served, training, "v")


# -- Spark gives the local answers -----------------------------------------------------------


def _mixed(n: int = 3_000, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """Training and served tables of every kind, with skew, nulls, NaN, repeated ids on both
    sides, ids missing from either side, and times as timestamps on one side, text on the other."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n)
    training_ids = np.concatenate([ids, ids[:20]])  # 20 ids twice: ambiguous
    base = JAN + timedelta(seconds=1)
    stamps = [base + timedelta(minutes=int(i), microseconds=int(i)) for i in training_ids]
    number = training_ids * 0.25
    number[::50] = np.nan
    training = pa.table(
        {
            "example_id": pa.array(training_ids, pa.int64()),
            "number": number,
            "count": pa.array(training_ids % 9, pa.int32()),
            "text": pa.array([f"t{i % 13}" if i % 17 else None for i in training_ids]),
            "yes": training_ids % 4 == 0,
            "at_ns": pa.array(stamps, pa.timestamp("ns")),
            "at_utc": pa.array(stamps, pa.timestamp("us", "UTC")),
            "day": pa.array([(base + timedelta(days=int(i % 40))).date() for i in training_ids]),
        }
    )
    served_ids = np.concatenate([rng.choice(n + 500, 2_500), ids[:5]])  # some unknown, repeats
    known = np.minimum(served_ids, n - 1)
    noise = rng.random(len(served_ids))
    s_number = np.where(noise < 0.05, served_ids * 0.25 + 1e-3, served_ids * 0.25)
    s_number[served_ids % 50 == 0] = np.nan
    s_times = [base + timedelta(minutes=int(i), microseconds=int(i)) for i in served_ids]
    served = pa.table(
        {
            "example_id": [None if i % 97 == 0 else str(i) for i in served_ids],
            "number": s_number,
            "count": pa.array(np.where(noise > 0.97, known % 9 + 1, served_ids % 9), pa.int64()),
            "text": [
                f"t{i % 13}" if i % 17 or noise[k] < 0.5 else None for k, i in enumerate(served_ids)
            ],
            "yes": np.where(noise < 0.02, served_ids % 4 != 0, served_ids % 4 == 0),
            "at_ns": [
                t.isoformat() + "Z" if k % 11 else t.isoformat(timespec="seconds")
                for k, t in enumerate(s_times)
            ],
            "at_utc": pa.array(
                [t + timedelta(seconds=int(noise[k] < 0.03)) for k, t in enumerate(s_times)],
                pa.timestamp("us", "UTC"),
            ),
            "day": [(base + timedelta(days=int(i % 40))).date().isoformat() for i in served_ids],
        }
    )
    return served, training


@pytest.mark.spark
@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_spark_gives_the_local_answers_whatever_the_partitions(spark, tmp_path, partitions):
    served, training = _mixed(seed=partitions)
    pq.write_table(served, tmp_path / "served.parquet", row_group_size=400)
    pq.write_table(training, tmp_path / "training.parquet", row_group_size=400)
    local = id_skew(served, training, id="example_id")
    s = read_source(spark, "served.parquet", tmp_path, key="s").repartition(partitions)
    t = read_source(spark, "training.parquet", tmp_path, key="t").repartition(partitions)
    assert id_skew_frame(s, t, id="example_id") == local
    assert all(c.compared > 2_000 and c.ambiguous > 0 for c in local.values())
    assert all(c.skewed > 0 for n, c in local.items() if n != "day"), local  # all kinds seen
    assert local["day"].skewed == 0


@pytest.mark.spark
def test_spark_gives_the_local_answers_on_frames_made_from_pandas(spark):
    served, training = _mixed(800)
    served_pd, training_pd = served.to_pandas(), training.drop(["at_ns"]).to_pandas()
    s = spark.createDataFrame(served_pd).repartition(3)
    t = spark.createDataFrame(training_pd).repartition(2)
    local = id_skew(
        pa.Table.from_pandas(served_pd, preserve_index=False),
        pa.Table.from_pandas(training_pd, preserve_index=False),
        id="example_id",
    )
    assert id_skew_frame(s, t, id="example_id") == local
    assert local["number"].skewed > 0


@pytest.mark.spark
def test_spark_finds_the_faulty_column_and_nothing_when_no_id_overlaps(spark):
    served, training, faulty = _faulty()
    s, t = spark.createDataFrame(served.to_pandas()), spark.createDataFrame(training.to_pandas())
    skew = id_skew_frame(s, t, id="example_id")
    assert skew["price"] == IdSkew(100, len(faulty), faulty[:5])
    assert skew["city"] == IdSkew(100, 0, []) and skew["flag"] == IdSkew(100, 0, [])
    from pyspark.sql import functions as F

    elsewhere = s.withColumn("example_id", F.concat(F.lit("x"), s["example_id"]))
    nothing = id_skew_frame(elsewhere, t, id="example_id")
    assert nothing == {c: IdSkew(0, 0, []) for c in ("price", "city", "flag")}


@pytest.mark.spark
def test_spark_joins_whole_float_ids_and_refuses_ids_of_other_types(spark):
    training = pd.DataFrame({"id": [17.0, 18.5, None], "v": [1, 2, 3]})
    served = pd.DataFrame({"id": ["17", "18.5", "nan"], "v": [2, 2, 2]})
    t, s = spark.createDataFrame(training), spark.createDataFrame(served)
    assert (
        id_skew_frame(s, t, id="id")
        == id_skew(pa.Table.from_pandas(served), pa.Table.from_pandas(training), id="id")
        == {"v": IdSkew(1, 1, ["17"])}
    )
    from pyspark.sql import functions as F

    dated = t.withColumn("id", F.current_timestamp())
    with pytest.raises(DataError, match="the training id column holds timestamp"):
        id_skew_frame(s, dated, id="id")
