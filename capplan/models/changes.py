"""Where a series changes: lone spikes to ignore and level shifts to restart from.

Shared by the line (its last segment) and the profiles (their level): both must follow a real change
at once and neither may be bent by one odd point.
"""

from __future__ import annotations

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


def last_level_shift(y: np.ndarray, min_segment: int) -> int:
    """Start of the last stretch of ``y`` around one level (0 when there is no shift): binary
    segmentation on the mean, towards the end, each split kept only if it pays (``pays``: the new level,
    where it starts, and the search for it). Spikes are filtered first, so an outlier is not a shift."""
    y = without_spikes(np.asarray(y, dtype=float), max(3, 2 * min_segment + 1))
    start = 0
    while len(y) - start >= 2 * min_segment:
        seg = y[start:] - np.median(y[start:])  # centred: raw sums of squares of large values round
        n = len(seg)
        total, squares = np.cumsum(seg), float(np.sum(seg**2))
        k = np.arange(min_segment, n - min_segment + 1)
        left, right = total[k - 1], total[-1] - total[k - 1]
        two = squares - left**2 / k - right**2 / (n - k)
        one = squares - total[-1] ** 2 / n
        best = int(np.argmin(two))
        if not pays(one, float(two[best]), n):
            break
        start += int(k[best])
    return start
