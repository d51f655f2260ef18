"""Rolling-origin backtest at the real horizon, on training data only.

One-step errors flatter models that merely track the last value; a capacity forecast is judged a week
ahead, so candidates are scored, and intervals calibrated, on forecasts of the full horizon made from
several past origins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capplan.errors import DataError

ORIGINS = 16


@dataclass(frozen=True)
class Backtest:
    origins: list[int]  # forecast from y[:o] for each o
    horizon: int
    scale: float  # in-sample MAE of seasonal naive, the MASE denominator

    def actuals(self, y: np.ndarray) -> np.ndarray:
        return np.stack([y[o : o + self.horizon] for o in self.origins])

    def mase(self, y: np.ndarray, forecasts: np.ndarray) -> float:
        """Mean absolute error over all origins and steps, scaled by the seasonal-naive in-sample MAE."""
        return float(np.mean(np.abs(self.actuals(y) - forecasts)) / self.scale)


def plan(
    y: np.ndarray, horizon: int, min_train: int, season: int, name: str, count: int = ORIGINS
) -> Backtest:
    """``count`` origins ending at the last full horizon, spread over the newer half of the data (at
    least ``horizon // 4`` apart, none before ``min_train``): errors from several regimes, not only the
    last weeks, so the interval is not calibrated on one quiet stretch."""
    n = len(y)
    origins, stride = _origins(n, horizon, min_train, count)
    if len(origins) < 2:
        longest = next(
            (h for h in range(min(horizon, n), 0, -1) if len(_origins(n, h, min_train, count)[0]) > 1), 0
        )
        fix = (
            f"query more history or shorten the horizon to at most {longest} steps"
            if longest
            else "query more history"
        )
        raise DataError(
            f"series {name!r}: {n} points cannot backtest a {horizon}-step horizon (needs "
            f"{min_train + horizon + stride}); {fix}"
        )
    train = y[: origins[0]]
    scale = float(np.mean(np.abs(train[season:] - train[:-season]))) if len(train) > season else 0.0
    return Backtest(origins=origins, horizon=horizon, scale=scale or float(np.std(y)) or 1.0)


def _origins(n: int, horizon: int, min_train: int, count: int) -> tuple[list[int], int]:
    """Up to ``count`` origins, oldest first, and the stride between them."""
    last = n - horizon
    first = max(min_train, n // 2)
    stride = max(1, horizon // 4, (last - first) // (count - 1))
    return sorted(range(last, min_train - 1, -stride)[:count]), stride
