"""Level shifts are found where they are, noise and lone spikes are not shifts, and the profiles'
level starts afresh after a shift."""

from __future__ import annotations

import numpy as np
import pytest

from capplan.models.base import FitContext
from capplan.models.changes import last_level_shift, spike_window, without_spikes
from capplan.models.profile import SeasonalProfile


@pytest.mark.parametrize("seed", range(5))
def test_a_level_shift_is_found_within_five_percent(seed):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(130, 30.0), np.full(38, 14.5)]) + rng.normal(0, 1.0, 168)
    start = last_level_shift(y, 3)
    assert start >= 130 - 0.05 * 168 and abs(np.median(y[start:]) - 14.5) < 0.5  # no pre-shift data


@pytest.mark.parametrize("seed", range(5))
def test_noise_and_a_lone_spike_are_not_shifts(seed):
    y = 5 + np.random.default_rng(seed).normal(0, 1.0, 168)
    y[100] += 60
    y[-1] += 60
    assert last_level_shift(y, 3) == 0


def test_a_week_long_level_follows_a_shift_a_day_ago():
    """grok_asg_anomaly-like: a week at ~34, then a day at ~1; a week's median said 34."""
    ctx = FitContext(periods=(), horizon=48, steps_per_day=24)
    y = np.concatenate([np.full(24 * 13, 34.0), np.full(24, 1.0)]) + np.random.default_rng(1).normal(
        0, 0.3, 24 * 14
    )
    assert abs(SeasonalProfile(level_periods=7).fit(y, ctx).predict(1)[0] - 1.0) < 0.5


def test_byte_sized_noise_is_not_a_shift():
    for seed in range(5):
        assert last_level_shift(5e11 + np.random.default_rng(seed).normal(0, 10, 168), 3) == 0


def _daily(n: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    return 50 + 10 * np.cos(2 * np.pi * (t % 24 - 14) / 24) + np.random.default_rng(seed).normal(0, 1, n)


def test_a_lone_burst_is_set_aside_but_a_nightly_one_stays_in_the_season():
    y = _daily(24 * 14)
    y[2::24] += 30  # a job every night at 02:00
    y[-5] += 500  # one runaway process
    clean = without_spikes(y, spike_window(24), 24)
    assert np.array_equal(clean[2::24], y[2::24])
    assert abs(clean[-5] - (y[-5] - 500)) < 5  # the same hour of the days around it
    assert np.count_nonzero(clean != y) == 1


def test_without_a_period_a_lone_burst_is_set_aside_too():
    y = _daily(24 * 14)
    y[100] += 500
    assert np.count_nonzero(without_spikes(y, spike_window(24)) != y) == 1


def test_strongly_autocorrelated_residuals_still_count_as_three_points():
    """n (1 - rho) / (1 + rho) fell below one for short, near-random-walk stretches, where BIC's
    penalty, extra * log(n), is none and any split paid."""
    from capplan.models.changes import effective_points, pays

    walk = np.cumsum(np.random.default_rng(0).normal(0, 1, 60))
    assert effective_points(walk - walk.mean(), 30) == 3.0
    assert not pays(1.0, 0.999, effective_points(walk - walk.mean(), 30))
