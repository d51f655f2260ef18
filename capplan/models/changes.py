"""Where a series changes: lone spikes to ignore and level shifts to restart from.

Shared by the line (its last segment) and the profiles (their level): both must follow a real change
at once and neither may be bent by one odd point.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

# At one point or fewer BIC's penalty, extra * log(n), is no penalty and any split would pay.
MIN_EFFECTIVE_POINTS = 3.0


def pays(one: float, two: float, n: float, extra: int = 3) -> bool:
    """A split of ``n`` points is worth its ``extra`` parameters by BIC (sum of squared errors ``one``
    unsplit, ``two`` split): noise is not cut up, a real jump or slope change is. For autocorrelated
    noise ``n`` is the effective number of points (``effective_points``)."""
    return one > 0 and n * np.log(max(two, 1e-300) / one) < -extra * np.log(n)


def effective_points(residuals: np.ndarray, breaks: int) -> float:
    """Points worth of independent evidence in ``residuals`` (the split fit's, pieces joined at
    ``breaks``): n (1 - rho) / (1 + rho) for their lag-1 autocorrelation rho >= 0. BIC counts every point
    as independent; a disk's AR(1) noise (rho 0.5) then looked like slope changes in most of its weeks,
    and the line through the last few hundred points forecast growth of -0.03 to 0.13 for a true 0.05.
    Measured on the split fit's residuals, a real change leaves them white and still pays."""
    rho = lag_one(residuals, breaks)
    return max(len(residuals) * (1 - rho) / (1 + rho), MIN_EFFECTIVE_POINTS)


def lag_one(residuals: np.ndarray, breaks: int = 0) -> float:
    """Lag-1 autocorrelation of ``residuals``, in [0, 0.99]; with ``breaks`` > 0 the pair across that
    index is left out (the pieces either side were fitted apart)."""
    pairs = np.ones(len(residuals) - 1, dtype=bool)
    if breaks > 0:
        pairs[breaks - 1] = False
    a, b = residuals[:-1][pairs], residuals[1:][pairs]
    denominator = float(np.sum(residuals**2))
    return min(max(float(np.sum(a * b)) / denominator, 0.0), 0.99) if denominator > 0 else 0.0


def without_spikes(y: np.ndarray, window: int, period: int = 0) -> np.ndarray:
    """Hampel filter: a point more than 5 robust deviations from the median of its neighbourhood is
    that median. A lone spike (above all at the last point, which fits weigh most) says nothing about
    the level or the growth; a change lasting half a window stays.

    With a ``period``, a point is a spike only if it also stands out from the same phase of the two
    cycles either side, and it becomes their median: a nightly job's burst recurs there and stays part
    of the season, a one-off burst does not (MSTL and the LSTM trio, fitted on the raw values, carried
    a spike 5 hours before the end into a +17 level and a +150 peak in every day forecast)."""
    y = np.asarray(y, dtype=float)
    med = median_filter(y, size=window, mode="reflect")
    spike = _outlying(y, med, window)
    if period < 2 or len(y) <= period or not spike.any():
        return np.where(spike, med, y)
    shifted = np.full((5, len(y)), np.nan)
    for row, k in enumerate((-2, -1, 0, 1, 2)):
        lo, hi = max(0, -k * period), min(len(y), len(y) - k * period)
        if lo < hi:
            shifted[row, lo:hi] = y[lo + k * period : hi + k * period]
    phase = np.nanmedian(shifted, axis=0)
    spike &= _outlying(y, phase, window, local=False)
    return np.where(spike, phase, y)


def spike_window(period: int) -> int:
    """A neighbourhood of a 24th of the period either side (an hour of a day), at least two points:
    short enough to keep the cycle's own peaks, long enough to tell a lone point from them."""
    return 2 * max(2, period // 24) + 1


def _outlying(y: np.ndarray, centre: np.ndarray, window: int, local: bool = True) -> np.ndarray:
    """More than 5 robust deviations (MAD, over the window or the whole series) from ``centre``."""
    deviation = np.abs(y - centre)
    mad = median_filter(deviation, size=window, mode="reflect") if local else np.median(deviation)
    scale = np.maximum(1.4826 * mad, 0.01 * (float(np.ptp(y)) or 1.0))
    return deviation > 5 * scale


def line_costs(y: np.ndarray, min_segment: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Every split of ``y`` into two least-squares lines: (split indices, SSE of both lines at each, SSE
    of one line), all at once from cumulative sums (a line's SSE is Syy - Sxy^2/Sxx on centred sums)."""
    n = len(y)
    x = np.arange(n, dtype=float)

    def sse(sx, sxx, sy, syy, sxy, m):
        cxx = sxx - sx * sx / m
        cxy = sxy - sx * sy / m
        return np.maximum(
            syy - sy * sy / m - np.divide(cxy * cxy, cxx, out=np.zeros_like(cxx), where=cxx > 0), 0
        )

    y = y - np.median(y)  # sums of squares of raw byte counts (5e11) lose the noise to rounding
    sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in (x, x * x, y, y * y, x * y)]
    k = np.arange(min_segment, n - min_segment + 1)
    left = sse(*(c[k] for c in sums), k.astype(float))
    right = sse(*(c[-1] - c[k] for c in sums), (n - k).astype(float))
    whole = float(sse(*(c[-1] for c in sums), float(n)))
    return k, left + right, whole


def level_costs(y: np.ndarray, min_segment: int) -> tuple[np.ndarray, np.ndarray, float]:
    """As ``line_costs`` for two constant levels instead of two lines."""
    y = y - np.median(y)  # centred: raw sums of squares of large values round
    n = len(y)
    total, squares = np.cumsum(y), float(np.sum(y**2))
    k = np.arange(min_segment, n - min_segment + 1)
    left, right = total[k - 1], total[-1] - total[k - 1]
    return k, squares - left**2 / k - right**2 / (n - k), squares - total[-1] ** 2 / n


def last_split(y: np.ndarray, min_segment: int, degree: int, allowed: np.ndarray | None = None) -> int:
    """Binary segmentation towards the end into lines (``degree`` 1) or levels (0): split at the
    cheapest index (among ``allowed`` if given) while the split pays (``pays``), then look again in the
    part after it; 0 when nothing pays."""
    costs = line_costs if degree else level_costs
    start = 0
    while len(y) - start >= 2 * min_segment:
        k, two, one = costs(y[start:], min_segment)
        if allowed is not None:
            keep = np.isin(k + start, allowed)
            k, two = k[keep], two[keep]
        if len(k) == 0:
            break
        best = int(np.argmin(two))
        residuals = _piece_residuals(y[start:], int(k[best]), degree)
        if not pays(one, float(two[best]), effective_points(residuals, int(k[best]))):
            break
        start += int(k[best])
    return start


def _piece_residuals(y: np.ndarray, split: int, degree: int) -> np.ndarray:
    pieces = []
    for piece in (y[:split], y[split:]):
        x = np.arange(len(piece), dtype=float)
        pieces.append(piece - np.polyval(np.polyfit(x, piece, degree), x))
    return np.concatenate(pieces)


def last_level_shift(y: np.ndarray, min_segment: int) -> int:
    """Start of the last stretch of ``y`` around one level (0 when there is no shift), each split kept
    only if it pays (``pays``: the new level, where it starts, and the search for it). Spikes are
    filtered first, so an outlier is not a shift."""
    y = without_spikes(np.asarray(y, dtype=float), max(3, 2 * min_segment + 1))
    return last_split(y, min_segment, 0)
