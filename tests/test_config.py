import datetime as dt
import math
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st
from systems import binary_frame, write_system

from keel.config import load_config, parse_config
from keel.errors import ConfigError, DataError, KeelError
from keel.system import System

MINIMAL = """
[system]
name = "s"
task = "binary"
target = "y"

[data]
train = "data/train.parquet"

[model]
train = "sysmodel:train"
"""


def write(tmp_path, text):
    path = tmp_path / "keel.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_config_gets_documented_defaults(tmp_path):
    config, _ = load_config(write(tmp_path, MINIMAL))
    assert config.system.metric == "roc_auc"
    assert config.data.eval is None and config.data.eval_fraction == 0.2
    assert config.data.schema_file == "keel.schema.yaml"
    assert config.slices.max_gap == 0.05 and config.slices.min_size == 200
    assert config.fairness.max_proxy_association == 0.5
    assert config.baseline.min_gain == 0.01
    assert config.registry.uri == "sqlite:///.keel/mlflow.db"
    assert config.score.attest_max_age_days == 90


def test_the_design_example_parses_with_every_section(tmp_path):
    text = MINIMAL.replace('name = "s"', 'name = "credit-default"\nid = "id"\ntimestamp = "t"')
    text += textwrap.dedent("""
    [slices]
    columns = ["region"]
    min_metric = 0.7
    [fairness]
    sensitive = ["gender"]
    [policy]
    deny = ["ssn*"]
    require_owner = true
    [baseline]
    min_gain = 0.02
    [registry]
    model = "credit"
    [gate]
    min = { roc_auc = 0.75 }
    max_regression = { roc_auc = 0.01 }
    [attest."model.2"]
    evidence = "https://wiki.example.com/ab"
    by = "A. Analyst"
    date = 2026-10-30
    """)
    text = text.replace(
        'train = "data/train.parquet"', 'train = "data/train.parquet"\neval = { sql = "SELECT 1" }'
    )
    config, _ = load_config(write(tmp_path, text))
    assert config.data.eval.sql == "SELECT 1"
    assert config.attest["model.2"].date == dt.date(2026, 10, 30)
    assert config.gate.min == {"roc_auc": 0.75}
    assert config.policy.require_owner


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('task = "binary"', 'task = "binry"'),
            "[system] task = \"binry\": Input should be 'binary', 'multiclass' or 'regression'",
        ),
        (
            ('task = "binary"', 'task = "binary"\nprimary_metric = "r2"'),
            '[system] primary_metric = "r2": not a binary metric',
        ),
        (
            ('train = "sysmodel:train"', 'train = "sysmodel.train"'),
            "[model] train = \"sysmodel.train\": expected an entry point 'module:function'",
        ),
        (("[model]", "[model]\nparam = 1"), "[model] param: unknown key"),
        (('name = "s"\n', ""), "[system] name: required key is missing"),
        (
            ('train = "data/train.parquet"', "train = 3"),
            '[data] train = 3: expected a path or glob string, or a table { sql = "SELECT ..." }',
        ),
        (
            ("[data]", "[slices]\nmin_size = -1\n[data]"),
            "[slices] min_size = -1: Input should be greater than 0",
        ),
        (("[data]", "[gate]\nmin = { accuracyy = 0.7 }\n[data]"), "unknown metric accuracyy"),
        (
            ("[data]", '[attest."model.9"]\nevidence = "x"\nby = "y"\ndate = 2026-01-01\n[data]'),
            "attestation for unknown practice 'model.9'",
        ),
        (
            ("[data]", '[attest."model.2"]\nevidence = "x"\nby = "y"\n[data]'),
            '[attest."model.2"] date: required key is missing',
        ),
        (
            ("[data]", '[fairness]\nsensitive = ["y"]\n[data]'),
            "sensitive attribute 'y' is also the target column",
        ),
        (('task = "binary"', 'task = "binary'), "not valid TOML"),
    ],
)
def test_configuration_errors_name_file_key_value_and_expectation(tmp_path, change, message):
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(info.value).startswith("keel.toml")


def test_system_owner_and_team_are_read_for_the_team_view(tmp_path):
    text = MINIMAL.replace('name = "s"', 'name = "s"\nowner = "ana@example.com"\nteam = "risk"')
    config, _ = load_config(write(tmp_path, text))
    assert (config.system.owner, config.system.team) == ("ana@example.com", "risk")
    assert load_config(write(tmp_path, MINIMAL))[0].system.team is None


@pytest.mark.parametrize("key", ["owner", "team"])
def test_an_empty_system_owner_or_team_is_refused_naming_the_key(tmp_path, key):
    path = write(tmp_path, MINIMAL.replace('name = "s"', f'name = "s"\n{key} = ""'))
    with pytest.raises(ConfigError, match=rf"\[system\] {key}"):
        load_config(path)


def test_missing_sections_are_each_named():
    with pytest.raises(ConfigError) as info:
        parse_config({})
    for section in ("system", "data", "model"):
        assert f"required section [{section}] is missing" in str(info.value)


def test_a_folder_without_keel_toml_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="keel init"):
        load_config(tmp_path)


def test_entry_point_to_a_missing_function_is_named(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"model": {"train": "sysmodel:fit"}})
    with pytest.raises(ConfigError) as info:
        System.from_path(path)
    assert (
        str(info.value)
        == 'keel.toml: [model] train = "sysmodel:fit": module sysmodel has no function fit'
    )


def test_entry_point_to_a_missing_module_is_named(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"model": {"features": "nope:build"}})
    with pytest.raises(ConfigError, match=r'\[model\] features = "nope:build": module nope cannot'):
        System.from_path(path)


def test_missing_data_file_names_key_and_path(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"data": {"eval": "data/no.parquet"}})
    with pytest.raises(DataError, match=r'\[data\] eval = "data/no.parquet": no file found'):
        System.from_path(path).raw("eval")


def test_missing_target_column_lists_the_columns(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"system": {"target": "label"}})
    with pytest.raises(DataError, match=r'\[system\] target = "label": no such column .* x1, x2'):
        System.from_path(path).raw("train")


def test_unknown_data_format_is_refused(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"data": {"train": "keel.toml"}})
    with pytest.raises(DataError, match="unknown format '.toml'"):
        System.from_path(path).raw("train")


@given(
    st.dictionaries(
        st.sampled_from(["system", "data", "model", "slices", "nonsense"]),
        st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text())),
    )
)
def test_any_malformed_config_gives_a_keel_error_never_a_crash(data):
    try:
        parse_config(data)
    except KeelError as exc:
        assert str(exc).startswith("keel.toml")


# Every limit with the range in which it can both pass and fail: (section, key, low, high,
# low included, high included).
LIMITS = [
    ("model", "min_coverage", 0, 1, False, True),
    ("cost", "max_cost_benefit_ratio", 0, 1000, False, True),
    ("new_feature", "max_minutes_to_add_feature", 0, 1440, False, True),
    ("reproducibility", "max_prediction_difference", 0, 0.1, True, True),
    ("reproducibility", "max_metric_difference", 0, 0.1, True, True),
    ("explain", "tolerance", 0, 0.1, False, True),
    ("tuning", "tolerance", 0, 0.5, True, True),
    ("staleness", "max_drop", 0, 0.5, True, True),
    ("slices", "max_gap", 0, 0.5, True, True),
    ("slices", "max_error_ratio", 1, 10, False, True),
    ("fairness", "max_demographic_parity_difference", 0, 1, True, False),
    ("fairness", "max_equalized_odds_difference", 0, 1, True, False),
    ("fairness", "max_proxy_association", 0, 1, True, False),
    ("baseline", "min_gain", 0, 0.5, True, True),
    ("score", "min_score", 0, 7, False, True),
    ("score", "attest_max_age_days", 0, 3650, False, True),
    ("canary", "max_error_rate_increase", 0, 1, True, False),
    ("canary", "max_p99_ratio", 1, 100, True, True),
    ("canary", "max_prediction_distance", 0, 1, True, False),
    ("canary", "max_quality_drop", 0, 0.5, True, True),
    ("drill", "max_age_days", 0, 365, False, True),
    ("drill", "max_seconds", 0, 600, False, True),
    ("monitor", "max_anomaly_rate", 0, 1, True, False),
    ("monitor", "max_skewed_share", 0, 1, True, False),
    ("monitor", "skew_linf", 0, 1, True, False),
    ("monitor", "skew_js", 0, 1, True, False),
    ("monitor", "drift_linf", 0, 1, True, False),
    ("monitor", "drift_js", 0, 1, True, False),
    ("monitor", "max_jump", 0, 10, False, True),
    ("monitor", "max_creep", 0, 10, False, True),
    ("serve", "seal_seconds", 1, 3600, True, True),
    ("monitor", "quality_tolerance", 0, 0.5, True, True),
    ("monitor", "min_correlation", -1, 1, False, True),
]
BASE = {
    "system": {"name": "s", "task": "binary", "target": "y"},
    "data": {"train": "data/train.parquet"},
    "model": {"train": "sysmodel:train"},
}


def _with(section, key, value):
    data = {k: dict(v) for k, v in BASE.items()}
    data.setdefault(section, {})[key] = value
    return data


def _inside(value, low, high, low_in, high_in):
    above = value > low or (low_in and value == low)
    return above and (value < high or (high_in and value == high))


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("monitor", "max_anomaly_rate", 1.0),
        ("monitor", "max_skewed_share", 1),
        ("monitor", "min_correlation", -1),
        ("canary", "max_p99_ratio", 1e9),
        ("canary", "max_quality_drop", 5.0),
        ("monitor", "max_jump", 1e6),
        ("monitor", "max_creep", float("inf")),
        ("drill", "max_age_days", 100_000),
    ],
)
def test_limits_that_cannot_fail_are_refused_naming_key_value_and_range(section, key, value):
    with pytest.raises(ConfigError) as info:
        parse_config(_with(section, key, value))
    message = str(info.value)
    assert f"[{section}] {key} = {value!r}" in message
    assert "expected a finite value in" in message and "never" in message


@given(
    st.sampled_from(LIMITS),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-2, max_value=2),
        st.sampled_from([-1, 0, 0.1, 0.5, 1, 7, 10, 100, 365, 600, 1000, 1440, 3650]),
    ),
)
def test_every_limit_is_accepted_inside_its_range_and_refused_outside_it(limit, value):
    section, key, low, high, low_in, high_in = limit
    if key.endswith("_days") and not (math.isfinite(value) and value == int(value)):
        return  # days are whole numbers: a fraction is a type error, not a range error
    if _inside(value, low, high, low_in, high_in):  # False for NaN
        config = parse_config(_with(section, key, value))
        assert getattr(getattr(config, section), key) == value
        return
    with pytest.raises(ConfigError) as info:
        parse_config(_with(section, key, value))
    bounds = f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
    assert f"[{section}] {key} = " in str(info.value) and bounds in str(info.value)


@pytest.mark.parametrize(
    "gate, message",
    [
        ({"min": {"roc_auc": 0.0}}, "[gate] min: roc_auc = 0.0 is not a floor"),
        ({"min": {"roc_auc": 1.2}}, "expected a value in (0, 1]"),
        ({"min": {"neg_log_loss": 0.5}}, "expected a value in (-inf, 0]"),
        ({"max_regression": {"roc_auc": 1.0}}, "[gate] max_regression: roc_auc = 1.0"),
        ({"max_regression": {"accuracy": -0.1}}, "expected a value in [0, 1)"),
    ],
)
def test_gate_limits_outside_their_metrics_range_are_refused(gate, message):
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "gate": gate})
    assert message in str(info.value)


def test_a_slice_floor_outside_the_primary_metrics_range_is_refused():
    with pytest.raises(ConfigError, match=r"\[slices\] min_metric: roc_auc = 1.5 .*\(0, 1\]"):
        parse_config({**BASE, "slices": {"min_metric": 1.5}})


@pytest.mark.parametrize("value", ["x", 0, -1, 3601])
def test_a_bad_seal_seconds_is_refused_naming_the_key(tmp_path, value):
    shown = f'"{value}"' if isinstance(value, str) else value
    text = MINIMAL + f"\n[serve]\nseal_seconds = {shown}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "[serve] seal_seconds" in str(info.value)


def test_seal_seconds_defaults_to_a_minute(tmp_path):
    config, _ = load_config(write(tmp_path, MINIMAL))
    assert config.serve.seal_seconds == 60


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://AKIDSECRET1:pw-SECRET2@host/logs", "not supported"),
        ("s3:///prefix?secret_key=SECRET3", "needs a bucket"),
        ("file://SECRET4:pw@somehost/x", "absolute path"),
    ],
)
def test_a_bad_serving_log_url_is_refused_naming_the_key_never_its_credentials(
    tmp_path, value, message
):
    text = MINIMAL.replace('train = "data/train.parquet"', f'train = "x"\nserving_log = "{value}"')
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write(tmp_path, text))
    assert "[data] serving_log" in str(info.value)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize("value", ["s3://bucket/prod/keel", "gs://b/p", "file:///mnt/log", "x/y"])
def test_serving_log_takes_a_folder_or_an_object_storage_url(tmp_path, value):
    text = MINIMAL.replace('train = "data/train.parquet"', f'train = "x"\nserving_log = "{value}"')
    config, _ = load_config(write(tmp_path, text))
    assert config.data.serving_log == value
