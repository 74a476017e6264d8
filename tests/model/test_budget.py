import time

from keel.model.budget import (
    MIN_ROWS,
    TRAIN_CELLS,
    affordable_rows,
    budget_note,
    clock,
    over_budget,
    seconds_since,
)


def test_narrow_data_keeps_the_sample_asked_for():
    assert affordable_rows(20_000, 10) == 20_000


def test_wide_data_is_held_to_the_cell_budget_but_not_below_the_floor():
    assert affordable_rows(20_000, 1_000) == TRAIN_CELLS // 1_000
    assert affordable_rows(20_000, 100_000) == MIN_ROWS
    assert affordable_rows(500, 100_000) == 500  # never more than asked


def test_an_explicit_sample_is_honoured_on_wide_data():
    assert affordable_rows(20_000, 2_000, explicit=True) == 20_000


def test_the_note_says_why_only_when_the_budget_bound():
    assert budget_note(2_000, 20_000, 2_000, 20_000) == (
        f"trained on 2,000 of 20,000 rows: 2,000 inputs, and at most {TRAIN_CELLS:,} cells "
        "(rows × inputs) per training"
    )
    assert budget_note(5_000, 5_000, 2_000, 20_000) == ""  # all rows used
    assert budget_note(20_000, 90_000, 10, 20_000) == ""  # the asked sample, not the budget


def test_over_budget_says_why_and_deep_lifts_it():
    why = over_budget(20.0, 4, 60.0, deep=False, key="[tuning] max_seconds")
    assert why == (
        "one training took 20.0 s, so the 4 more it needs would take about 80 s, over the "
        "60 s of [tuning] max_seconds"
    )
    assert over_budget(10.0, 4, 60.0, deep=False, key="k") == ""  # 40 s: within
    assert over_budget(20.0, 4, 60.0, deep=True, key="k") == ""


def test_seconds_since_counts_the_cpu_time_of_busy_work():
    started = clock()
    spin = time.process_time()
    while time.process_time() - spin < 0.2:
        pass
    assert 0.2 <= seconds_since(started) < 5
