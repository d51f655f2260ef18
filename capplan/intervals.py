"""95% intervals from the chosen model's own multi-step backtest errors, per horizon step.

The original ±1.96 σ of one-step residuals was as wide at step 168 as at step 1 (69% coverage in the
prototype). Here each step gets empirical error quantiles, pooled over neighbouring steps so ten
origins give enough errors for a 97.5% quantile, with the split-conformal finite-sample correction.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95


def min_pool(level: float = LEVEL) -> int:
    """The fewest errors that can reach ``level``: the widest band they give, their range, covers a new
    error with chance (m - 1) / (m + 1), 88% for 16 and 95% from 39 (where (m + 1)(1 - alpha) <= m)."""
    alpha = (1 - level) / 2
    return math.ceil((1 - alpha) / alpha - 1e-9)


def error_quantiles(errors: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """errors (origins, h) = actual - forecast -> (lower, upper) offsets per step, lower <= 0 <= upper,
    non-decreasing in width along the horizon (uncertainty does not shrink with distance). A step whose
    pool is short of ``min_pool`` errors (the first steps) takes in more neighbours."""
    origins, h = errors.shape
    lower, upper = np.empty(h), np.empty(h)
    alpha = (1 - level) / 2
    need = min_pool(level)
    for s in range(h):
        window = max(1, h // 12)
        while origins * (min(h, s + window + 1) - max(0, s - window)) < need and window < h:
            window += 1
        pool = errors[:, max(0, s - window) : s + window + 1].ravel()
        m = len(pool)
        q = min(1.0, math.ceil((m + 1) * (1 - alpha)) / m)
        lower[s] = min(0.0, float(np.quantile(pool, 1 - q)))
        upper[s] = max(0.0, float(np.quantile(pool, q)))
    return np.minimum.accumulate(lower), np.maximum.accumulate(upper)
