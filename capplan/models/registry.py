"""Model classes by name, so saved metadata and ensembles can rebuild a model from ``name`` + params.

The LSTM trio is imported only when asked for: importing Keras costs about two seconds.
"""

from __future__ import annotations

from typing import Any

from capplan.errors import ModelError
from capplan.models.base import Forecaster


def model_class(name: str) -> type[Forecaster]:
    from capplan.models.ensemble import Ensemble
    from capplan.models.linear import LinearSegment
    from capplan.models.mstl import MstlEts
    from capplan.models.naive import SeasonalNaive
    from capplan.models.profile import SeasonalProfile

    classes: dict[str, type[Forecaster]] = {
        c.name: c for c in (Ensemble, LinearSegment, MstlEts, SeasonalNaive, SeasonalProfile)
    }
    if name == "lstm":
        from capplan.models.lstm import LstmTrio

        return LstmTrio
    if name not in classes:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted([*classes, 'lstm']))}")
    return classes[name]


def build(name: str, params: dict[str, Any]) -> Forecaster:
    return model_class(name)(**params)
