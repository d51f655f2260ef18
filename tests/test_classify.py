"""Classification: periods found from ACF peaks at any sampling rate; trend vs seasonal with numbers."""

from __future__ import annotations

import numpy as np
import pytest

from capplan.classify import Classification, classify
from capplan.errors import DataError


def seasonal(n: int, periods: dict[int, float], noise: float = 0.5, slope: float = 0.0, seed: int = 0):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    y = 10 + slope * t + rng.normal(0, noise, n)
    for p, amp in periods.items():
        y += amp * np.sin(2 * np.pi * t / p)
    return y


@pytest.mark.parametrize("seed", range(5))
def test_daily_and_weekly_hourly(seed):
    c = classify(seasonal(1344, {24: 3, 168: 2}, seed=seed), steps_per_day=24)
    assert c.kind == "seasonal"
    assert c.periods == (24, 168)


def test_daily_only():
    assert classify(seasonal(1000, {24: 3}), 24).periods == (24,)


def test_lags_follow_the_sampling_rate():
    """15-minute data: a day is 96 steps, far beyond the original fixed lags 2..59."""
    c = classify(seasonal(96 * 8, {96: 3}), steps_per_day=96)
    assert c.periods == (96,)
    assert c.max_lag == 96 * 4


def test_other_period_not_hard_coded():
    assert classify(seasonal(1000, {12: 3}), 24).periods == (12,)


def test_seasonal_with_trend_is_still_seasonal():
    assert classify(seasonal(1344, {24: 3}, slope=0.005), 24).periods[0] == 24


@pytest.mark.parametrize("seed", range(3))
def test_growing_load_keeps_its_daily_cycle(seed):
    """Growing load: the trend swamps the raw ACF, the cycle shows once the line is taken out."""
    rng = np.random.default_rng(seed)
    t = np.arange(672)
    y = 50 + 0.05 * t + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, len(t))
    c = classify(y, 24)
    assert (c.kind, c.periods, c.trending) == ("seasonal", (24,), True)
    assert "trend with a season" in c.reason


@pytest.mark.parametrize("slope", [0.02, 0.05, 0.07, 0.09])
def test_a_moderate_trend_does_not_hide_the_week(slope):
    """At 0.05-0.07/h the trend lifted the raw ACF enough to flatten the weekly peak, but not enough
    for the trend path: only the day was kept, and the weekend was forecast for every day."""
    t = np.arange(35 * 24)
    weekend = np.where((t // 24) % 7 >= 5, -15, 0)
    y = (
        100
        + 10 * np.sin(2 * np.pi * t / 24)
        + weekend
        + slope * t
        + np.random.default_rng(0).normal(0, 1, len(t))
    )
    assert classify(y, 24).periods == (24, 168)


def test_weekly_bump_on_a_rising_daily_series():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    y = 100 + 0.5 * t + 10 * ((t % 7) >= 5) + rng.normal(0, 1, len(t))
    assert classify(y, 1.0).periods == (7,)


def test_metadata_without_the_trending_flag_still_loads():
    data = classify(seasonal(1344, {24: 3}), 24).to_dict()
    del data["trending"]
    assert Classification.from_dict(data).trending is False


@pytest.mark.parametrize("seed", range(3))
def test_growing_disk_is_trend(seed):
    rng = np.random.default_rng(seed)
    y = np.cumsum(np.r_[np.full(600, 0.1), np.full(744, 0.3)]) + rng.normal(0, 0.5, 1344)
    c = classify(y, 24)
    assert c.kind == "trend" and c.periods == ()
    assert c.pearson_r < -0.9
    assert "r^2" in c.reason


def test_a_strong_peak_on_a_straight_line_acf_says_why_it_is_seasonal():
    """r^2 over the trend rule does not make a trend when a period's peak is prominent enough: the
    reason says so, not just that there are peaks."""
    rng = np.random.default_rng(1)
    t = np.arange(1344)
    c = classify(50 + np.cumsum(rng.normal(0, 1, 1344)) + 12 * np.sin(2 * np.pi * t / 6), 24)
    assert c.kind == "seasonal" and c.pearson_r**2 >= 0.8
    assert f"r^2={c.pearson_r**2:.2f} >= 0.8" in c.reason and ">= 0.2 outweighs it" in c.reason
    weak = classify(seasonal(1344, {24: 1}, slope=0.005), 24)
    assert "the peak at lag 24 has prominence 0.18 < 0.2" in weak.reason


def test_decision_round_trips_through_json_shapes():
    c = classify(seasonal(1344, {24: 3, 168: 2}), 24)
    again = Classification.from_dict(c.to_dict())
    assert again == c


def test_too_short_is_refused():
    with pytest.raises(DataError, match="at least"):
        classify(np.arange(5.0), 24)


def test_one_huge_spike_does_not_hide_the_daily_cycle():
    """The spike holds most of the variance, so the raw ACF shows no cycle; without it the cycle shows."""
    y = seasonal(24 * 28, {24: 10}, noise=1.0)
    y[-5] += 1000
    c = classify(y, 24)
    assert (c.kind, c.periods) == ("seasonal", (24,)) and "1 lone spikes set aside" in c.reason


def test_a_second_period_is_a_whole_number_of_cycles_of_the_first():
    """Poisson counts with a daily cycle: an ACF bump near 97 would slide the daily shape an hour every
    four days."""
    rng = np.random.default_rng(2)
    t = np.arange(24 * 28)
    for _ in range(7):
        rng.normal(0, 1, len(t))
    y = rng.poisson(np.maximum(0.1, 2 + 2 * np.cos(2 * np.pi * (t % 24 - 14) / 24))).astype(float)
    periods = classify(y, 24).periods
    assert periods[0] == 24 and all(p % 24 == 0 for p in periods)


@pytest.mark.parametrize("n", [288, 672, 1344])
def test_white_noise_gets_no_period_at_an_odd_lag(n):
    """Before the test against the noise band, each of these 20 series got a period (13, 38, 324...):
    the best of hundreds of lags always stands 0.1 above its neighbours somewhere."""
    decisions = [classify(np.random.default_rng(seed).normal(50, 5, n), 24) for seed in range(20)]
    found = [c.periods for c in decisions]
    assert all(set(periods) <= {24, 168} for periods in found)
    assert sum(1 for periods in found if periods) <= 5
    assert any("within white noise's range" in c.reason for c in decisions)


def test_a_weak_odd_cycle_that_clears_the_noise_band_is_kept():
    y = seasonal(1344, {13: 0.5}, noise=0.5)  # ACF 0.33 at lag 13; the band is 0.10
    assert classify(y, 24).periods == (13,)


def test_only_the_peaks_of_the_periods_kept_vouch_for_a_season():
    """A strong peak set aside as noise (an odd lag under the band) must not carry a weak daily one past
    the strength a trend-shaped ACF asks for."""
    from capplan.classify import _prominence

    peaks, prominences = np.array([13, 25, 49]), np.array([0.5, 0.15, 0.12])
    assert _prominence((24,), peaks, prominences) == 0.15
    assert _prominence((24, 48), peaks, prominences) == 0.15
