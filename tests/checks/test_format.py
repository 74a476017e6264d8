import math

from keel.checks._format import name_list, num, pct, plain, setting, settings
from keel.config import CostSection


def test_name_list_shows_a_few_names_and_counts_the_rest():
    assert name_list([]) == ""
    assert name_list(["a", "b"]) == "a, b"
    assert name_list([f"x{i}" for i in range(5)]) == "x0, x1, x2, x3, x4"
    assert name_list([f"x{i}" for i in range(8)]) == "x0, x1, x2, x3, x4 and 3 more"
    assert name_list(["a", "b", "c"], 1) == "a and 2 more"


def test_num_writes_four_significant_digits_and_n_a_when_undefined():
    assert num(0.123456) == "0.1235"
    assert num(1234567.0) == "1.235e+06"
    assert num(3) == "3"
    assert num(math.nan) == "n/a"
    assert num(None) == "n/a"


def test_pct_and_plain():
    assert pct(0.125) == "12.5%"
    assert pct(1.0) == "100.0%"
    assert plain(math.nan) is None
    assert plain(0.5) == 0.5 and type(plain(1)) is float


def test_setting_writes_floats_short_and_other_values_as_they_are():
    assert setting(0.123456) == "0.1235"
    assert setting(200) == "200"
    assert setting("auto") == "auto"


def test_settings_reads_keys_of_a_config_section_in_the_order_given():
    section = CostSection(max_bytes_per_row=64.0)
    found = settings(section, "max_bytes_per_row", "min_cost_share")
    assert list(found) == ["max_bytes_per_row", "min_cost_share"]
    assert found == {
        "max_bytes_per_row": 64.0,
        "min_cost_share": section.min_cost_share,
    }
