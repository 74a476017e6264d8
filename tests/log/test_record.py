import pytest

from keel.errors import KeelError
from keel.log.record import FORMAT, check_record


def _record(**extra):
    return {"time": "2026-01-01T00:00:00+00:00", "model_version": 1, **extra}


def test_a_record_of_this_format_or_without_one_is_accepted():
    check_record(_record(format=FORMAT))
    check_record(_record())


def test_a_record_of_an_unknown_format_is_refused_naming_it():
    with pytest.raises(KeelError, match="format 99"):
        check_record(_record(format=99))


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"time": "2026-01-01T00:00:00", "model_version": "1"}, "model_version"),
        ({"time": "yesterday", "model_version": 1}, "time"),
        ({"time": "2026-01-01T00:00:00", "model_version": 1, "date": "x"}, "date"),
    ],
)
def test_a_record_without_what_the_log_partitions_by_is_refused(record, field):
    with pytest.raises(KeelError, match=field):
        check_record(record)
