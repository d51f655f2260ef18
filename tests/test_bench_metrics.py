"""The benchmark's metrics on cases small enough to compute by hand."""

import numpy as np
import pytest

from bench.accuracy import Row, bounds
from bench.metrics import coverage, mase, smape


def test_mase_scales_by_in_sample_seasonal_naive():
    # season 2: in-sample naive errors |3-1|, |4-2|, |5-3| -> MAE 2; test errors 1 and 3 -> MAE 2.
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mase(train, np.array([10.0, 10.0]), np.array([9.0, 13.0]), season=2) == pytest.approx(1.0)


def test_mase_default_season_is_a_day_of_hours():
    train = np.tile(np.arange(24.0), 2) + np.repeat([0.0, 1.0], 24)  # day two is one higher: scale 1
    assert mase(train, np.zeros(3), np.full(3, 0.5)) == pytest.approx(0.5)


def test_mase_is_nan_when_the_naive_is_perfect_in_sample():
    assert np.isnan(mase(np.ones(30), np.ones(2), np.zeros(2)))


def test_mase_refuses_a_training_window_shorter_than_the_season():
    with pytest.raises(ValueError, match="more than 24"):
        mase(np.ones(24), np.ones(2), np.ones(2))


def test_smape_hand_computed():
    # 2*|100-50|/150 = 2/3 and 2*|10-10|/20 = 0 -> mean 1/3 -> 33.33 %
    assert smape(np.array([100.0, 10.0]), np.array([50.0, 10.0])) == pytest.approx(100 / 3)


def test_smape_counts_zero_against_zero_as_perfect_and_zero_against_anything_as_200():
    assert smape(np.array([0.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(100.0)


def test_coverage_counts_the_bounds_as_inside():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    assert coverage(actual, np.array([1.0, 2.5, 0.0, 5.0]), np.array([1.0, 3.0, 3.0, 6.0])) == 0.5


def _row(series: str, method: str, mase_: float, cover: float) -> Row:
    return Row("long", series, method, mase_, 0.0, cover, 0.0, "", False)


def test_bounds_take_the_best_reference_per_series_and_cap_coverage_at_windows_all_missed():
    rows = [
        _row("a", "snaive24", 1.0, 0.9),
        _row("a", "mstl", 2.0, 1.0),
        _row("a", "capplan", 0.5, 0.95),
        _row("b", "snaive24", 4.0, 0.2),
        _row("b", "mstl", 3.0, 0.4),
        _row("b", "capplan", 3.5, 0.3),
    ]
    found = bounds(rows)
    assert found["oracle_mean_mase"] == pytest.approx((1.0 + 3.0) / 2)  # capplan is not a reference
    assert found["missed_by_all"] == ["b"]
    assert found["coverage_ceiling"] == pytest.approx((1.0 + 0.4) / 2)
