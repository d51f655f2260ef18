"""The typed forecast result and the one-call API ``capplan.forecast(frame, horizon=...)``."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from capplan.config import duration
from capplan.errors import ConfigError, DataError, first_line

if TYPE_CHECKING:
    from capplan.classify import Classification

DEFAULT_HORIZON = pd.Timedelta("7D")
TIME_COLUMNS = ("time", "timestamp")  # found without being named
# Epoch numbers below each limit are in that unit: 1e11 s is the year 5138, 1e11 ms is 1973.
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))


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
    timezone: str = "UTC",
) -> ForecastResult:
    """Fit on ``frame`` and forecast ``horizon`` (steps when an int, else a duration). ``timezone``: the
    clock the daily cycle follows (an IANA name when load follows local office hours across DST)."""
    from capplan import engine

    series = to_series(frame, time_column=time_column, value_column=value_column)
    h = parse_horizon(horizon)
    return engine.fit(series, h, name=str(series.name or "series"), seed=seed, timezone=timezone).forecast()


def parse_horizon(horizon: int | float | str | pd.Timedelta) -> int | pd.Timedelta:
    """Whole numbers (24, 24.0, "24") count steps; anything else is a duration: InfluxDB's form first
    ("7d", "2w", as TICK users write it, and which pandas deprecates), then pandas' ("1 days", "PT24H")."""
    if isinstance(horizon, str) and re.fullmatch(r"\s*[+-]?\d+\s*", horizon):
        horizon = int(horizon)
    if isinstance(horizon, (float, np.floating)):
        if not float(horizon).is_integer():
            raise DataError(
                f"horizon {horizon} is not a whole number of steps; give steps or a duration like 7d"
            )
        horizon = int(horizon)
    if isinstance(horizon, (int, np.integer)):
        if horizon < 1:
            raise DataError(
                f"horizon {horizon} is not a positive number of steps; give steps (e.g. 24) or a duration "
                "like 7d or 48h"
            )
        return int(horizon)
    if isinstance(horizon, str):
        try:
            return pd.Timedelta(duration(horizon))
        except ConfigError:
            pass  # not InfluxDB's form; pandas may still read it
    try:
        span = pd.Timedelta(horizon)
    except ValueError as exc:
        raise DataError(f"horizon {horizon!r} is neither a step count nor a duration like 7d or 48h") from exc
    if pd.isna(span) or span <= pd.Timedelta(0):
        raise DataError(f"horizon {horizon!r} is not a positive duration like 7d or 48h")
    return span


def to_series(
    frame: pd.DataFrame | pd.Series, *, time_column: str | None = None, value_column: str | None = None
) -> pd.Series:
    """One value column indexed by parsed timestamps (the index, or ``time_column``): UTC, or naive
    where the times had no UTC offset (read as UTC)."""
    if isinstance(frame, pd.Series):
        series = frame
    else:
        time_given = time_column is not None
        if time_column is None and not isinstance(frame.index, pd.DatetimeIndex):
            named = [c for c in frame.columns if str(c).lower() in TIME_COLUMNS]
            if len(named) != 1:
                names = " or ".join(TIME_COLUMNS)
                found = f"{len(named)} columns are named {names}" if named else f"none is named {names}"
                raise DataError(
                    f"which column holds the times? {found} and the index is not timestamps; columns are "
                    f"{list(frame.columns)}: pass time_column (--time-column)"
                )
            time_column = named[0]
        if time_column is not None:
            if time_column not in frame.columns:
                raise DataError(f"no time column {time_column!r}; columns are {list(frame.columns)}")
            frame = frame.set_index(time_column)
        if frame.empty:
            raise DataError("no rows of data, only a header; give a file with values")
        series = _numbers(frame[_value_column(frame, value_column, time_column, time_given)])
    if not isinstance(series.index, pd.DatetimeIndex):
        series = series.set_axis(parse_times(series.index))
    missing = np.flatnonzero(pd.isna(series.index))
    if len(missing):
        raise DataError(
            f"{len(missing)} row(s) have no time, the first at data row {missing[0] + 1}; fill in or "
            "remove those rows"
        )
    return series


def _value_column(
    frame: pd.DataFrame, value_column: str | None, time_column: str | None, time_given: bool
) -> str:
    """The column of values (the time column is already the index). A mix-up is blamed on the column
    the user named: a value column that is the time column, or a time column that leaves the column
    named as times to be taken for the values."""
    columns = list(frame.columns)
    if value_column is not None:
        if value_column in columns:
            return value_column
        if value_column == time_column:
            how = "" if time_given else " (found by its name)"
            raise DataError(
                f"value column {value_column!r} is also the time column{how}; give different columns for "
                "the times (time_column, --time-column) and the values (value_column, --value-column)"
            )
        besides = f" besides the time column {time_column!r}" if time_column is not None else ""
        raise DataError(f"no value column {value_column!r}; the columns{besides} are {columns}")
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
    if not numeric and len(columns) == 1:
        picked = columns[0]  # the only column: say which cell is not a number
    elif len(numeric) == 1:
        picked = numeric[0]
    else:
        found = f"numeric columns are {numeric}" if numeric else f"no column is numeric ({columns})"
        raise DataError(f"{found}; name the value column with --value-column")
    if time_given and str(picked).lower() in TIME_COLUMNS:
        raise DataError(
            f"time column {time_column!r} leaves {picked!r}, named as times, to be the value column; if "
            f"{picked!r} holds the times, give it as time_column (--time-column), else name the value "
            "column (value_column, --value-column)"
        )
    return picked


def _numbers(column: pd.Series) -> pd.Series:
    """The column as floats. Empty cells (and NaN, null) are gaps; any other text is a mistake to name,
    not a gap to make silently."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    values = pd.to_numeric(column, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & column.notna().to_numpy())
    if len(bad):
        raise DataError(
            f"value column {column.name!r} holds {column.iloc[bad[0]]!r} at data row {bad[0] + 1} "
            f"({len(bad)} such cell(s)); use numbers, and leave a missing value empty"
        )
    return values


def parse_times(values: pd.Index | pd.Series) -> pd.DatetimeIndex:
    """Timestamps from text (any pandas-readable form, ISO-8601 best) or from epoch numbers, whose
    unit (s, ms, us, ns) follows from their size: integers are never read as nanoseconds by default."""
    values = pd.Index(values)
    try:
        if pd.api.types.is_numeric_dtype(values):
            if pd.api.types.is_bool_dtype(values) or len(values) == 0:
                raise ValueError("not epoch times")
            numbers = values.to_numpy(dtype=float)
            if not np.isfinite(numbers).any():
                raise ValueError("no time is a number")
            if _row_numbers(numbers):
                raise DataError(
                    f"the times are the row numbers {numbers[0]:g}, {numbers[1]:g}, ...; give ISO-8601 "
                    "times (2024-05-01T00:00:00Z) or epoch seconds"
                )
            largest = float(np.nanmax(np.abs(numbers)))
            unit = next(u for limit, u in EPOCH_UNITS if largest < limit)
            return pd.DatetimeIndex(pd.to_datetime(values, unit=unit, utc=True))
        return datetimes(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(
            f"cannot parse the times ({first_line(exc)}); give ISO-8601 times (2024-05-01T00:00:00Z) "
            "or epoch seconds"
        ) from exc


def datetimes(values: pd.Index | pd.Series, format: str | None = None) -> pd.DatetimeIndex:
    """Text times in UTC, or as written (naive) when none has a UTC offset: ``fit`` reads those as UTC
    too, and knowing they had none it can tell a local hour repeated when DST ends from other repeats."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # pandas 2 only warns of mixed offsets
            times = pd.DatetimeIndex(pd.to_datetime(values, format=format))
    except (ValueError, FutureWarning):  # mixed offsets, or times with and without one
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True, format=format))
    return times if times.tz is None else times.tz_convert("UTC")


def _row_numbers(numbers: np.ndarray) -> bool:
    """0, 1, 2, ... or 1, 2, 3, ...: a spreadsheet's row count, which would read as seconds in 1970."""
    return len(numbers) >= 2 and numbers[0] in (0, 1) and bool(np.all(np.diff(numbers) == 1))
