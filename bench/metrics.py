"""Point and interval accuracy of one forecast against the held-out actuals.

MASE is scaled by the in-sample seasonal-naive-24 MAE (the issue's definition), so 1.0 means "as
good on the test window as repeating yesterday was on the training data", comparable across series.
"""

from __future__ import annotations

import numpy as np

SEASON = 24


def mase(train: np.ndarray, actual: np.ndarray, forecast: np.ndarray, season: int = SEASON) -> float:
    """Test MAE over the in-sample MAE of the seasonal naive with ``season``; NaN when that is zero."""
    train = np.asarray(train, dtype=float)
    if len(train) <= season:
        raise ValueError(f"MASE needs more than {season} training points, got {len(train)}")
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    mae = float(np.mean(np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float))))
    return mae / scale if scale > 0 else float("nan")


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200); a step where both are zero counts as a perfect 0."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2 * np.abs(actual - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    return float(100 * np.mean(ratio))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside the closed interval [lower, upper]."""
    actual, lower, upper = (np.asarray(a, dtype=float) for a in (actual, lower, upper))
    return float(np.mean((actual >= lower) & (actual <= upper)))
