import numpy as np

from keel.model.slice_error import ErrorRule, error_kind, error_of


def test_the_error_follows_the_primary_metric():
    assert error_kind("r2") == "MAE" and error_kind("neg_mean_absolute_error") == "MAE"
    assert error_kind("neg_root_mean_squared_error") == "RMSE"
    assert error_of("MAE", np.array([0.0, 0.0]), np.array([1.0, -3.0])) == 2.0
    assert error_of("RMSE", np.array([0.0, 0.0]), np.array([1.0, -3.0])) == np.sqrt(5.0)


def test_a_slice_fails_only_when_its_error_is_more_than_the_ratio_times_the_wholes():
    rule = ErrorRule("MAE", overall=20.0, max_ratio=1.5)
    assert rule.ratio(15.0) == 0.75 and not rule.fails(30.0) and rule.fails(30.1)
    assert ErrorRule("MAE", overall=0.0, max_ratio=1.5).ratio(0.0) == 1.0
