"""Where a series changes: lone spikes to ignore and level shifts to restart from.

Shared by the line (its last segment) and the profiles (their level): both must follow a real change
at once and neither may be bent by one odd point.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import median_filter


def pays(one: float, two: float, n: int, extra: int = 3) -> bool:
    """A split of ``n`` points is worth its ``extra`` parameters by BIC (sum of squared errors ``one``
    unsplit, ``two`` split): noise is not cut up, a real jump or slope change is."""
    return one > 0 and n * np.log(max(two, 1e-300) / one) < -extra * np.log(n)


def without_spikes(y: np.ndarray, window: int) -> np.ndarray:
    """Hampel filter: a point more than 5 robust deviations from the median of its neighbourhood is
    that median. A lone spike (above all at the last point, which fits weigh most) says nothing about
    the level or the growth; a change lasting half a window stays."""
    med = median_filter(y, size=window, mode="reflect")
    mad = median_filter(np.abs(y - med), size=window, mode="reflect")
    scale = np.maximum(1.4826 * mad, 0.01 * (float(np.ptp(y)) or 1.0))
    return np.where(np.abs(y - med) > 5 * scale, med, y)


Costs = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray, float]]


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


def last_split(y: np.ndarray, min_segment: int, costs: Costs, allowed: np.ndarray | None = None) -> int:
    """Binary segmentation towards the end: split at the cheapest index (among ``allowed`` if given)
    while the split pays (``pays``), then look again in the part after it; 0 when nothing pays."""
    start = 0
    while len(y) - start >= 2 * min_segment:
        k, two, one = costs(y[start:], min_segment)
        if allowed is not None:
            keep = np.isin(k + start, allowed)
            k, two = k[keep], two[keep]
        if len(k) == 0:
            break
        best = int(np.argmin(two))
        if not pays(one, float(two[best]), len(y) - start):
            break
        start += int(k[best])
    return start


def last_level_shift(y: np.ndarray, min_segment: int) -> int:
    """Start of the last stretch of ``y`` around one level (0 when there is no shift), each split kept
    only if it pays (``pays``: the new level, where it starts, and the search for it). Spikes are
    filtered first, so an outlier is not a shift."""
    y = without_spikes(np.asarray(y, dtype=float), max(3, 2 * min_segment + 1))
    return last_split(y, min_segment, level_costs)
