"""The one interface every forecasting model implements, so selection, backtests, intervals and the
model store treat the seed's LSTM trio and a seasonal naive baseline alike.

Models see plain float arrays on a regular grid (preparation, gaps and timestamps are the series
module's job) and return point forecasts only: prediction intervals are calibrated outside the model,
from its own multi-step backtest errors, so every model's interval means the same thing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np


@dataclass(frozen=True)
class FitContext:
    """What a model may know besides the values: derived from the data, fixed at first training and
    reused unchanged by incremental fits, so a retrained model sees the same kind of signal."""

    periods: tuple[int, ...]  # seasonal periods in steps, strongest first; () when not seasonal
    horizon: int  # steps the forecast must cover
    steps_per_day: float  # sampling rate, for rules stated in time rather than steps
    seed: int = 0

    @property
    def short_period(self) -> int:
        """The shortest seasonal period, or a day's steps without a season: the span of one level."""
        return min(self.periods, default=max(1, round(self.steps_per_day)))


class Forecaster(ABC):
    """``fit`` -> ``predict``; ``update`` for incremental training; ``save``/``load`` for the store.

    Subclasses take their hyper-parameters as constructor keywords, store them unchanged and return
    them from :meth:`params` so ``type(m)(**m.params())`` rebuilds an unfitted twin.
    """

    name: ClassVar[str]

    @abstractmethod
    def fit(self, y: np.ndarray, ctx: FitContext) -> Self:
        """Fit on ``y`` (1-D float, no NaN, regular steps, last value = last observation)."""

    @abstractmethod
    def predict(self, h: int) -> np.ndarray:
        """Point forecasts for the ``h`` steps right after the last fitted value."""

    def update(self, y: np.ndarray, ctx: FitContext) -> Self:
        """Continue from the fitted state on recent data ``y`` (ending at the newest observation).

        Cheap models simply refit on the recent window; models with learned weights override this to
        continue training from them."""
        return self.fit(y, ctx)

    def backtest_forecasts(self, y: np.ndarray, origins: list[int], h: int, ctx: FitContext) -> np.ndarray:
        """Forecasts of ``h`` steps made at each origin ``o`` from ``y[:o]`` only -> shape (len(origins), h).

        The default refits at every origin; costly models may fit once on ``y[:min(origins)]`` and
        forecast from each later origin with the fitted weights (no look at data past the origin)."""
        return np.stack([type(self)(**self.params()).fit(y[:o], ctx).predict(h) for o in origins])

    def min_points(self, ctx: FitContext) -> int:
        """Fewest points ``fit`` accepts: the backtest's earliest origin must leave this many, so a
        candidate is never skipped only because the first origin was too early."""
        return 1

    def params(self) -> dict[str, Any]:
        """Constructor keywords (JSON-able)."""
        return {}

    def save(self, directory: Path) -> dict[str, Any]:
        """Write fitted state into ``directory`` (already created, empty, owned by the caller, made atomic
        by the store); return JSON-able state for ``metadata.json``."""
        return {}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any], state: dict[str, Any], ctx: FitContext) -> Self:
        """Rebuild a fitted model from what :meth:`save` wrote."""
        raise NotImplementedError(f"{cls.name} cannot be loaded")
