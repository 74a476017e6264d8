import pandas as pd

from keel.model.dependence import dependencies, shifted


def test_shifted_changes_every_present_value_and_keeps_missing_ones():
    values = pd.Series(["b", None, "a", "c", "a"])
    moved = shifted(values)
    assert moved.tolist()[0] == "c" and pd.isna(moved[1]) and moved.tolist()[2:] == ["b", "a", "b"]
    assert shifted(pd.Series([3, 3])).tolist() == [3, 3]  # one value: nothing to shift to


def test_dependencies_are_inputs_and_the_raw_columns_the_feature_code_reads():
    raw = pd.DataFrame(
        {
            "hr": [1, 5, 9, 17] * 50,
            "stamp": ["2024-01-01T08:00"] * 100 + ["2024-01-02T18:00"] * 100,
            "casual": range(200),
            "registered": range(200, 400),
        }
    )

    def build(rows):  # keeps hr, derives a day from the stamp, drops the parts of the target
        return pd.DataFrame({"hr": rows["hr"], "day": rows["stamp"].str[:10]})

    found = dependencies(raw, build, ["hr", "day"], ["hr", "stamp", "casual", "registered"])
    assert found == ["hr", "stamp"]
