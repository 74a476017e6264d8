import subprocess
import sys

import keel


def test_public_api_is_exactly_the_documented_names():
    assert sorted(keel.__all__) == sorted(
        [
            "CheckError",
            "ConfigError",
            "DataError",
            "Evidence",
            "KeelConfig",
            "KeelError",
            "PRACTICES",
            "Practice",
            "RunResult",
            "Score",
            "System",
            "__version__",
            "load_config",
            "run",
            "score",
        ]
    )
    for name in keel.__all__:
        assert getattr(keel, name) is not None


def test_import_keel_does_not_load_heavy_dependencies():
    code = (
        "import keel, sys; "
        "heavy = ('fairlearn', 'jinja2', 'sklearn', 'pandas', 'mlflow'); "
        "print(any(m.split('.')[0] in heavy for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_keel_loads_no_other_keel_module_and_lists_its_lazy_names():
    code = (
        "import keel, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('keel.'))); "
        "print(all(name in dir(keel) for name in keel.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]
