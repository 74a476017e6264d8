import datetime as dt
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
