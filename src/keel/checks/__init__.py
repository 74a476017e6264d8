"""The checks: one plain function per practice id, each taking a System and returning Evidence.

Which function checks which practice is declared with the practice, in `keel.rubric.PRACTICES`
(e.g. `check="keel.checks.data:data_1"`); `keel.checks.runner` imports it from there when it
runs. The functions live in one module per section (`data.py`, `model.py`, `infra.py`), in
numeric order; what they share lives in private modules named for what they hold.
"""
