"""keel.validate: keel.toml, its entry points and schema, without data or training."""

from systems import binary_frame, write_system

from keel.validate import config_files, validate


def test_a_valid_system_without_schema_is_valid_with_a_note(tmp_path):
    found = validate(write_system(tmp_path, binary_frame(50)))
    assert found.ok and found.system == "test-system"
    assert "no schema file keel.schema.yaml" in found.notes[0]


def test_a_missing_training_function_is_a_problem_naming_the_key(tmp_path):
    path = write_system(tmp_path, binary_frame(50), sections={"model": {"train": "sysmodel:fit"}})
    found = validate(path)
    assert found.problems == [
        'keel.toml: [model] train = "sysmodel:fit": module sysmodel has no function fit'
    ]


def test_a_bad_schema_is_a_problem_naming_the_file_and_key(tmp_path):
    path = write_system(tmp_path, binary_frame(50))
    (tmp_path / "keel.schema.yaml").write_text("features:\n  x1: {type: numbr}\n")
    found = validate(path)
    assert len(found.problems) == 1
    assert found.problems[0].startswith("keel.schema.yaml: features.x1")


def test_validate_does_not_read_the_data(tmp_path):
    path = write_system(tmp_path, binary_frame(50))
    (tmp_path / "data" / "train.parquet").write_text("not parquet")
    assert validate(path).ok


def test_files_inside_a_system_stand_for_its_keel_toml_once(tmp_path):
    path = write_system(tmp_path / "sys", binary_frame(50))
    (tmp_path / "notes.py").write_text("")
    files, problems = config_files(
        [path, tmp_path / "sys" / "sysmodel.py", tmp_path / "notes.py"], stop=tmp_path
    )
    assert files == [path.resolve()] and problems == []
    files, problems = config_files([tmp_path, tmp_path / "gone.toml"], stop=tmp_path)
    assert files == [] and len(problems) == 2
