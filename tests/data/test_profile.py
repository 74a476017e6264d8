"""Profiles of a stream of batches (keel.data.profile): merged, serialised, written and read."""

import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profiles import (
    assert_quantiles_within_rank_error,
    close,
    comparable,
    exact_columns,
    finite_values,
    table,
)

from keel.data._hll import Hll
from keel.data.profile import Profile, merge, profile_batches, read_profile, write_profile
from keel.errors import DataError

# -- merging: the profiles of any split merge into the profile of the whole -------------------


@st.composite
def splits(draw):
    n = draw(st.integers(2, 600))
    seed = draw(st.integers(0, 2**32 - 1))
    parts = draw(st.integers(2, 5))
    cuts = sorted(draw(st.lists(st.integers(1, n - 1), min_size=parts - 1, max_size=parts - 1)))
    sizes = draw(st.lists(st.integers(1, 300), min_size=parts, max_size=parts))
    return n, seed, [0, *cuts, n], sizes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(splits())
def test_profiles_of_any_split_merge_into_the_profile_of_the_whole(case):
    n, seed, bounds, sizes = case
    t = table(n, seed=seed)
    whole = profile_batches(t, source="t")
    parts = [
        profile_batches(t.slice(lo, hi - lo).to_batches(max_chunksize=size), source="t")
        for lo, hi, size in zip(bounds[:-1], bounds[1:], sizes, strict=True)
        if hi > lo
    ]
    merged = parts[0]
    for part in parts[1:]:
        merged = merge(merged, part)
    assert merged.rows == whole.rows == n
    assert exact_columns(merged) == exact_columns(whole)
    for name, w in whole.columns.items():
        m = merged.columns[name]
        assert close(m.mean, w.mean) and close(m.std, w.std), name
        if w.kll is not None and w.finite:
            assert_quantiles_within_rank_error(m, finite_values(t, name))
        if isinstance(w.hll, Hll):
            assert m.distinct == w.distinct  # registers merge by maximum: bit for bit
        elif w.hll is not None:
            truth = len(set(t.column(name).drop_null().to_pylist()))
            lo, hi = m.distinct_bounds(3)
            assert lo <= truth <= hi, name
    counts = t.column("city").value_counts().to_pylist()
    counts = sorted((d["counts"], d["values"]) for d in counts)
    if len(counts) == 1 or counts[-1][0] > 2 * counts[-2][0]:
        assert merged["city"].top(1)[0][0] == counts[-1][1]


def test_merge_leaves_its_inputs_unchanged_and_profile_merge_is_the_same():
    a, b = profile_batches(table(100, seed=1)), profile_batches(table(50, seed=2))
    before = comparable(a)
    both = a.merge(b)
    assert comparable(a) == before
    assert both.rows == 150 and both.batches == 2 and both["x"].count == 150


def test_merging_profiles_of_a_column_of_mixed_types_names_the_column():
    a = profile_batches(pa.table({"v": [1, 2]}), source="a.parquet")
    b = profile_batches(pa.table({"v": ["x", "y"]}), source="b.parquet")
    with pytest.raises(DataError, match=r"column 'v' is int64 in one part and string"):
        merge(a, b)
    with pytest.raises(DataError, match=r"w only in b.parquet"):
        merge(a, profile_batches(pa.table({"v": [1], "w": [2]}), source="b.parquet"))


def test_a_column_of_mixed_types_across_batches_names_the_column():
    batches = [pa.record_batch({"v": [1, 2]}), pa.record_batch({"v": ["x", "y"]})]
    with pytest.raises(DataError, match=r"src: column 'v' holds int64 .* string in batch 2"):
        profile_batches(batches, source="src")


def test_empty_data_is_an_error():
    with pytest.raises(DataError, match=r"src: the data is empty \(0 rows\)"):
        profile_batches(pa.table({"v": pa.array([], pa.int64())}), source="src")
    with pytest.raises(DataError, match="empty"):
        profile_batches([])


# -- a stream of batches, with no configuration: what Spark runs on each partition ------------


@pytest.mark.parametrize("wire", ["bytes", "dict"])
def test_halves_profiled_apart_serialised_and_merged_give_the_statistics_of_the_whole(wire):
    t = table(6000, seed=11)
    halves = (t.slice(0, 2500), t.slice(2500))
    parts = [profile_batches(iter(half.to_batches(max_chunksize=700))) for half in halves]
    if wire == "bytes":
        sent = [part.to_bytes() for part in parts]
        assert all(isinstance(data, bytes) for data in sent)
        received = [Profile.from_bytes(data) for data in sent]
    else:
        sent = [json.dumps(part.to_dict()) for part in parts]
        received = [Profile.from_dict(json.loads(text)) for text in sent]
    merged = received[0].merge(received[1])
    whole = profile_batches(t)
    assert merged.rows == whole.rows == 6000
    assert exact_columns(merged) == exact_columns(whole)
    for name, w in whole.columns.items():
        m = merged[name]
        assert close(m.mean, w.mean) and close(m.std, w.std), name
        if isinstance(w.hll, Hll):
            assert m.distinct == w.distinct, name  # registers merge by maximum: bit for bit
    assert merged["city"].top() == whole["city"].top()
    assert merged["flag"].top() == whole["flag"].top()


def test_bytes_that_are_not_a_profile_are_refused():
    with pytest.raises(ValueError, match="not a Keel profile"):
        Profile.from_bytes(b'{"format": "whylogs"}')
    with pytest.raises(ValueError):
        Profile.from_bytes(b"\xff not json")


# -- files -----------------------------------------------------------------------------------


def test_a_profile_survives_a_round_trip_through_json(tmp_path):
    p = profile_batches(table(2000, seed=4), source='"t.parquet"')
    back = read_profile(write_profile(p, tmp_path / "p.json"))
    assert comparable(back) == comparable(p)
    assert back.source == '"t.parquet"' and back.rows == 2000
    assert back["city"].top(2) == p["city"].top(2)
    assert back["x"].quantiles([0.5]) == p["x"].quantiles([0.5])


def test_profiles_merge_through_files_as_keel_profile_merge_does(tmp_path):
    t = table(1000, seed=5)
    write_profile(profile_batches(t.slice(0, 400)), tmp_path / "a.json")
    write_profile(profile_batches(t.slice(400)), tmp_path / "b.json")
    merged = merge(read_profile(tmp_path / "a.json"), read_profile(tmp_path / "b.json"))
    write_profile(merged, tmp_path / "c.json")
    assert exact_columns(read_profile(tmp_path / "c.json")) == exact_columns(profile_batches(t))


def test_reading_a_missing_damaged_or_foreign_profile_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such profile"):
        read_profile(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not a Keel profile: not valid JSON"):
        read_profile(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "whylogs"}')
    with pytest.raises(DataError, match="other.json: not a Keel profile"):
        read_profile(tmp_path / "other.json")
    data = profile_batches(table(10)).to_dict()
    data["columns"]["x"]["sketches"]["kll"] = "AAAA"
    (tmp_path / "damaged.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="damaged.json: not a Keel profile, or a damaged one"):
        read_profile(tmp_path / "damaged.json")


def test_writing_a_profile_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    path.write_text("old")
    p = profile_batches(table(10))

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("keel.atomic.os.fsync", broken)
    with pytest.raises(DataError, match="cannot write the profile: No space left"):
        write_profile(p, path)
    assert path.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["p.json"]
