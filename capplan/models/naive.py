"""Seasonal naive: repeat the last period. The floor every other model must beat to be used."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from capplan.errors import ModelError
from capplan.models.base import FitContext, Forecaster


class SeasonalNaive(Forecaster):
    """Repeat the last ``period`` values (period 1 = last value, for series without a season)."""

    name: ClassVar[str] = "snaive"

    def __init__(self, period: int = 1) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        self.period = period
        self._last: np.ndarray | None = None

    def min_points(self, ctx: FitContext) -> int:
        return self.period

    def params(self) -> dict[str, Any]:
        return {"period": self.period}

    def fit(self, y: np.ndarray, ctx: FitContext) -> Self:
        if len(y) < self.period:
            raise ModelError(f"seasonal naive needs one period ({self.period} points), got {len(y)}")
        self._last = np.asarray(y[-self.period :], dtype=float)
        return self

    def predict(self, h: int) -> np.ndarray:
        if self._last is None:
            raise ModelError("seasonal naive is not fitted")
        return np.resize(self._last, h)

    def backtest_forecasts(self, y: np.ndarray, origins: list[int], h: int, ctx: FitContext) -> np.ndarray:
        if min(origins) < self.period:
            raise ModelError(f"seasonal naive needs one period ({self.period} points) before each origin")
        return np.stack([np.resize(np.asarray(y[o - self.period : o], dtype=float), h) for o in origins])

    def save(self, directory: Path) -> dict[str, Any]:
        return {"last": self._last.tolist() if self._last is not None else None}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any], state: dict[str, Any], ctx: FitContext) -> Self:
        model = cls(**params)
        model._last = np.asarray(state["last"], dtype=float)
        return model
