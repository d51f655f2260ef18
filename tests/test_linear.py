"""Linear model: the last slope change is found, the forecast follows the last segment, the interval
widens with the horizon."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

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
