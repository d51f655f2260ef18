"""Linear model: the last slope change is found, the forecast follows the last segment, the interval
widens with the horizon."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from capplan.models.base import FitContext
from capplan.models.linear import LinearSegment, last_breakpoint

CTX = FitContext(periods=(), horizon=48, steps_per_day=24)


def disk(breaks: list[int], slopes: list[float], n: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    slope = np.empty(n)
    edges = [0, *breaks, n]
    for (a, b), s in zip(itertools.pairwise(edges), slopes, strict=True):
        slope[a:b] = s
    return 50 + np.cumsum(slope) + rng.normal(0, noise, n)


@pytest.mark.parametrize("seed", range(5))
def test_breakpoint_within_five_percent(seed):
    n, brk = 1000, 640
    y = disk([brk], [0.02, 0.5], n, noise=0.05, seed=seed)
    y[brk:] += 8  # a cleanup / resize shows as a jump at the slope change
    found = last_breakpoint(y, min_segment=50)
    assert abs(found - brk) <= 0.05 * n


@pytest.mark.parametrize("seed", range(5))
def test_slope_change_without_a_jump_is_found(seed):
    """Growth speeding up with no spike in |diff| (the find_peaks rule alone misses it)."""
    n, brk = 1000, 430
    y = disk([brk], [0.01, 0.08], n, noise=0.05, seed=seed)
    assert abs(last_breakpoint(y, min_segment=50) - brk) <= 0.05 * n
    yhat = LinearSegment().fit(y, CTX).predict(48)
    assert np.diff(yhat).mean() == pytest.approx(0.08, rel=0.1)
    assert yhat[0] == pytest.approx(y[-1] + 0.08, abs=0.2)


def test_forecast_follows_the_last_segment():
    y = disk([600], [0.05, 0.4], 900, noise=0.01, seed=1)
    y[600:] += 5
    model = LinearSegment().fit(y, CTX)
    yhat = model.predict(48)
    assert np.diff(yhat).mean() == pytest.approx(0.4, rel=0.05)
    assert yhat[0] == pytest.approx(y[-1] + 0.4, abs=0.5)


def test_interval_widens_with_the_horizon():
    y = disk([], [0.1], 500, noise=1.0, seed=2)
    width = LinearSegment().fit(y, CTX).interval_halfwidth(200)
    assert np.all(np.diff(width) > 0)
    assert width[0] == pytest.approx(1.96, rel=0.15)  # ~t * sigma near the data


def test_no_break_uses_all_points():
    y = disk([], [0.1], 300, noise=0.0, seed=0) + np.sin(np.arange(300)) * 1e-3
    assert last_breakpoint(y, min_segment=12) in range(0, 300)
    assert LinearSegment().fit(y, CTX).predict(1)[0] == pytest.approx(y[-1] + 0.1, abs=0.01)


@pytest.mark.parametrize("seed", range(5))
def test_noise_on_one_line_is_not_cut_up(seed):
    """The sharpest 10% of |diff| on a noisy line are noise: fitting after the last of them took the
    slope from a few dozen points and put the disk-full date off by up to 2x."""
    y = disk([], [0.02], 504, noise=0.3, seed=seed)
    model = LinearSegment().fit(y, CTX)
    assert model.state["breakpoint"] == 0
    assert model.state["slope"] == pytest.approx(0.02, rel=0.1)


def test_a_spike_at_the_last_point_does_not_bend_the_line():
    y = disk([], [0.01], 672, noise=0.0, seed=0)
    y[-1] += 80
    yhat = LinearSegment().fit(y, CTX).predict(24)
    assert np.diff(yhat).mean() == pytest.approx(0.01, rel=0.05)
    assert yhat[0] == pytest.approx(y[-2] + 0.02, abs=0.05)


def test_the_last_cleanup_of_a_sawtooth_starts_the_segment():
    rng = np.random.default_rng(0)
    y = np.concatenate([40 + 0.05 * np.arange(300), 42 + 0.05 * np.arange(300), 41 + 0.08 * np.arange(240)])
    y = y + rng.normal(0, 0.3, len(y))
    assert abs(last_breakpoint(y, min_segment=42) - 600) <= 0.05 * len(y)


def test_byte_sized_values_are_not_cut_up_by_rounding():
    """Sums of squares of raw disk bytes (5e11) lost the noise to rounding and split pure noise."""
    for seed in range(5):
        y = 5e11 + 100.0 * np.arange(504) + np.random.default_rng(seed).normal(0, 10, 504)
        assert last_breakpoint(y, min_segment=25) == 0


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    """AR(1) noise of unit variance: a disk's usage wanders around its growth rather than jittering."""
    rng = np.random.default_rng(seed)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = phi * e[i - 1] + rng.normal(0, np.sqrt(1 - phi**2))
    return e


@pytest.mark.parametrize("seed", range(8))
def test_autocorrelated_noise_on_one_line_is_not_cut_up(seed):
    """Counted as independent points, AR(1) noise paid for slope changes in 5 of these 8 series and the
    line through the last few hundred points grew at -0.03 to 0.13 for a true 0.05."""
    y = 100 + 0.05 * np.arange(504) + ar1(504, 0.5, seed)
    model = LinearSegment().fit(y, FitContext(periods=(), horizon=168, steps_per_day=24))
    assert model.state["breakpoint"] == 0
    assert model.state["slope"] == pytest.approx(0.05, abs=0.002)


@pytest.mark.parametrize("seed", range(5))
def test_a_slope_change_under_autocorrelated_noise_is_still_found(seed):
    n, brk = 1000, 430
    y = 50 + np.cumsum(np.where(np.arange(n) < brk, 0.01, 0.08)) + ar1(n, 0.5, seed)
    assert abs(last_breakpoint(y, min_segment=50) - brk) <= 0.05 * n


def test_persistent_noise_starts_the_forecast_where_the_usage_is_and_widens_the_band():
    """A line under AR(1) noise of rho 0.9: taken as independent noise, the forecast started on the line
    (first step off by 1.8 on average) and the band held 81% of the next two days."""
    hits, first = [], []
    for seed in range(100):
        y = 100 + 0.05 * np.arange(348) + ar1(348, 0.9, seed) * np.sqrt(1 / (1 - 0.81))
        model = LinearSegment().fit(y[:300], CTX)
        forecast, width = model.predict(48), model.interval_halfwidth(48)
        hits.append(np.abs(y[300:] - forecast) <= width)
        first.append(abs(y[300] - forecast[0]))
    assert np.mean(first) < 1.2
    assert np.mean(hits) >= 0.85


def test_a_line_saved_before_the_noise_model_loads_and_forecasts_as_before():
    state = {"breakpoint": 0.0, "n": 10.0, "slope": 1.0, "intercept": 0.0, "sigma": 1.0}
    state |= {"x_mean": 4.5, "sxx": 82.5}
    model = LinearSegment.load(None, LinearSegment().params(), state, CTX)
    assert model.predict(2).tolist() == [10.0, 11.0]
    # the regression interval for independent noise: t(n - 2) sigma sqrt(1 + 1/n + (x - mean)^2 / sxx)
    expected = stats.t.ppf(0.975, 8) * np.sqrt(1 + 1 / 10 + (10 - 4.5) ** 2 / 82.5)
    assert model.interval_halfwidth(1)[0] == pytest.approx(expected)
