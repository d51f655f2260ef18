"""The typed forecast result and the one-call API ``capplan.forecast(frame, horizon=...)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from capplan.errors import DataError

if TYPE_CHECKING:
    from capplan.classify import Classification

DEFAULT_HORIZON = pd.Timedelta("7D")


@dataclass(frozen=True)
class ForecastResult:
    """``frame``: UTC DatetimeIndex named ``time``; columns ``yhat``, ``yhat_lower``, ``yhat_upper``."""

    frame: pd.DataFrame
    model_name: str
    classification: Classification
    scores: dict[str, float]


def forecast(
    frame: pd.DataFrame | pd.Series,
    horizon: int | pd.Timedelta | str = DEFAULT_HORIZON,
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    seed: int = 0,
) -> ForecastResult:
    """Fit on ``frame`` and forecast ``horizon`` (steps when an int, else a duration)."""
    from capplan import engine

    series = to_series(frame, time_column=time_column, value_column=value_column)
    h = int(horizon) if isinstance(horizon, (int, np.integer)) else pd.Timedelta(horizon)
    return engine.fit(series, h, name=str(series.name or "series"), seed=seed).forecast()


def to_series(
    frame: pd.DataFrame | pd.Series, *, time_column: str | None = None, value_column: str | None = None
) -> pd.Series:
    """One value column indexed by parsed UTC timestamps (the index, or ``time_column``)."""
    if isinstance(frame, pd.Series):
        series = frame
    else:
        if time_column is not None:
            if time_column not in frame.columns:
                raise DataError(f"no time column {time_column!r}; columns are {list(frame.columns)}")
            frame = frame.set_index(time_column)
        if frame.empty:
            raise DataError("no rows of data, only a header; give a file with values")
        columns = list(frame.columns)
        if value_column is not None and value_column not in columns:
            raise DataError(f"no value column {value_column!r}; columns are {columns}")
        numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
        if value_column is None and len(numeric) != 1:
            found = f"numeric columns are {numeric}" if numeric else f"no column is numeric ({columns})"
            raise DataError(f"{found}; name the value column with --value-column")
        series = frame[value_column or numeric[0]]
    if not isinstance(series.index, pd.DatetimeIndex):
        try:
            series = series.set_axis(pd.to_datetime(series.index, utc=True))
        except (ValueError, TypeError) as exc:
            raise DataError(f"cannot parse timestamps ({exc}); give ISO-8601 times or --time-column") from exc
    return series
