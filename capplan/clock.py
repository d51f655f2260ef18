"""The clock a series' cycles follow: UTC, or a local time zone whose DST changes move office hours.

Models index by step, so a daily cycle that follows a local clock slides an hour along a UTC grid twice
a year: for days after the change the forecast peaked an hour early or late, and its edges alerted. On
its zone's wall clock the cycle stays put, so such a series is modelled in wall-clock time (labelled
UTC inside, so the grid code is the same for every zone) and its forecast is read back onto UTC times.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from capplan.zones import UTC


def wall(index: pd.DatetimeIndex, zone: str) -> pd.DatetimeIndex:
    """UTC times -> the zone's wall-clock times, labelled UTC."""
    if zone == UTC:
        return index
    return index.tz_convert(zone).tz_localize(None).tz_localize(UTC)


def wall_time(when: pd.Timestamp, zone: str) -> pd.Timestamp:
    return wall(pd.DatetimeIndex([when]), zone)[0]


def to_wall(series: pd.Series, zone: str) -> pd.Series:
    """A checked UTC series (``capplan.series.checked``) on wall-clock time. The hour repeated when DST
    ends holds two samples per wall time and gets their mean; the hour skipped when it starts is a gap
    one hour long, which ``prepare`` interpolates like any short one."""
    if zone == UTC:
        return series
    moved = series.set_axis(wall(pd.DatetimeIndex(series.index), zone))
    if moved.index.is_unique:
        return moved
    return moved.groupby(level=0, sort=True).mean().rename(series.name)


def to_utc(when: pd.Timestamp, zone: str, near: pd.Timestamp) -> pd.Timestamp:
    """The UTC time of the wall-clock time ``when``: in the repeated hour, the reading nearest ``near``
    (the raw observation it came from)."""
    if zone == UTC:
        return when
    local = when.tz_localize(None)
    readings = {
        local.tz_localize(zone, ambiguous=dst, nonexistent="shift_forward").tz_convert(UTC)
        for dst in (True, False)
    }
    return min(readings, key=lambda t: abs(t - near)).tz_convert(UTC)


def wall_steps(h: int, step: pd.Timedelta, zone: str) -> int:
    """Wall-clock steps that cover h UTC steps: one hour more, for a forecast across the spring change."""
    return h if zone == UTC else h + math.ceil(pd.Timedelta("1h") / step)


def onto_utc(frame: pd.DataFrame, last: pd.Timestamp, step: pd.Timedelta, h: int, zone: str) -> pd.DataFrame:
    """A forecast on the wall-clock grid -> h steps on the UTC grid after ``last``: each UTC time takes
    the forecast for its wall-clock time (the repeated hour twice, the skipped one never)."""
    index = pd.DatetimeIndex(last + step * np.arange(1, h + 1), name="time")
    if zone == UTC:
        return frame.set_axis(index)
    rows = frame.index.get_indexer(wall(index, zone), method="nearest")
    return frame.iloc[rows].set_axis(index)
