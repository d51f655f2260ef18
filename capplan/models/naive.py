"""Seasonal naive: repeat the last period. The floor every other model must beat to be used.

A lone spike in the last period (one that stands out from its neighbours and from the same phase of
the cycles before) is set aside first: repeated, it became a phantom peak in every forecast cycle, also
inside the ensembles the naive belongs to. A burst that recurs at that phase is part of the season.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from capplan.errors import ModelError
from capplan.models.base import FitContext, Forecaster
from capplan.models.changes import spike_window, without_spikes


class SeasonalNaive(Forecaster):
    """Repeat the last ``period`` values (period 1 = last value, for series without a season), lone
    spikes set aside."""

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
        self._last = self._last_cycle(y)
        return self

    def predict(self, h: int) -> np.ndarray:
        if self._last is None:
            raise ModelError("seasonal naive is not fitted")
        return np.resize(self._last, h)

    def backtest_forecasts(self, y: np.ndarray, origins: list[int], h: int, ctx: FitContext) -> np.ndarray:
        if min(origins) < self.period:
            raise ModelError(f"seasonal naive needs one period ({self.period} points) before each origin")
        return np.stack([np.resize(self._last_cycle(y[:o]), h) for o in origins])

    def _last_cycle(self, y: np.ndarray) -> np.ndarray:
        window = spike_window(self.period)
        recent = np.asarray(y[-(3 * self.period + window) :], dtype=float)  # the cycles a spike is judged by
        return without_spikes(recent, window, self.period)[-self.period :]

    def save(self, directory: Path) -> dict[str, Any]:
        return {"last": self._last.tolist() if self._last is not None else None}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any], state: dict[str, Any], ctx: FitContext) -> Self:
        model = cls(**params)
        model._last = np.asarray(state["last"], dtype=float)
        return model
