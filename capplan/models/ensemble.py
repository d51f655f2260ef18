"""Mean of the best few candidates: their errors are partly independent, so the average beats each
(the prototype's profile + MSTL average did better than either)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from capplan.errors import ModelError
from capplan.models.base import FitContext, Forecaster


class Ensemble(Forecaster):
    """Equal-weight mean of member models, given as ``[{"name": ..., "params": {...}}, ...]``."""

    name: ClassVar[str] = "ensemble"

    def __init__(self, members: list[dict[str, Any]]) -> None:
        from capplan.models.registry import build

        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = [{"name": m["name"], "params": dict(m["params"])} for m in members]
        self.models: list[Forecaster] = [build(m["name"], m["params"]) for m in self.members]

    @classmethod
    def of(cls, models: list[Forecaster]) -> Ensemble:
        """An ensemble of already fitted models."""
        ensemble = cls([{"name": m.name, "params": m.params()} for m in models])
        ensemble.models = list(models)
        return ensemble

    def params(self) -> dict[str, Any]:
        return {"members": self.members}

    def fit(self, y: np.ndarray, ctx: FitContext) -> Self:
        self.models = [m.fit(y, ctx) for m in self.models]
        return self

    def update(self, y: np.ndarray, ctx: FitContext) -> Self:
        self.models = [m.update(y, ctx) for m in self.models]
        return self

    def predict(self, h: int) -> np.ndarray:
        return np.mean([m.predict(h) for m in self.models], axis=0)

    def backtest_forecasts(self, y: np.ndarray, origins: list[int], h: int, ctx: FitContext) -> np.ndarray:
        return np.mean([m.backtest_forecasts(y, origins, h, ctx) for m in self.models], axis=0)

    def save(self, directory: Path) -> dict[str, Any]:
        states = []
        for i, model in enumerate(self.models):
            sub = directory / f"member{i}"
            sub.mkdir()
            states.append(model.save(sub))
        return {"members": states}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any], state: dict[str, Any], ctx: FitContext) -> Self:
        from capplan.models.registry import model_class

        ensemble = cls(**params)
        if len(state.get("members", [])) != len(ensemble.members):
            raise ModelError(f"ensemble state in {directory} does not match its members; retrain the series")
        ensemble.models = [
            model_class(m["name"]).load(directory / f"member{i}", m["params"], s, ctx)
            for i, (m, s) in enumerate(zip(ensemble.members, state["members"], strict=True))
        ]
        return ensemble
