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

# The largest change of a UTC offset any zone makes (Antarctica/Troll: 2 hours).
LARGEST_CHANGE = pd.Timedelta("2h")


def wall(index: pd.DatetimeIndex, zone: str) -> pd.DatetimeIndex:
    """UTC times -> the zone's wall-clock times, labelled UTC."""
    if zone == UTC:
        return index
    return index.tz_convert(zone).tz_localize(None).tz_localize(UTC)


def wall_time(when: pd.Timestamp, zone: str) -> pd.Timestamp:
    return wall(pd.DatetimeIndex([when]), zone)[0]


def offsets(zone: str, around: pd.Timestamp) -> set[pd.Timedelta]:
    """The UTC offsets ``zone`` uses within a year of ``around``."""
    days = pd.date_range(around - pd.Timedelta("366D"), around + pd.Timedelta("366D"), freq="1D")
    return set(wall(days, zone) - days)


def follows(zone: str, step: pd.Timedelta, around: pd.Timestamp, *, buckets: bool) -> bool:
    """Whether a wall-clock grid of ``step`` keeps its phase all year: every change of ``zone``'s
    offset within a year of ``around`` is a whole number of steps (a 2-hour or a daily grid cannot
    follow a 1-hour change, nor an hourly one Lord Howe's 30 minutes). A grid of ``buckets`` on whole
    intervals must also lie on the UTC buckets, so every offset itself must be whole steps (hourly
    buckets at Kolkata's +05:30 would straddle InfluxDB's)."""
    found = sorted(offsets(zone, around))
    shifts = [offset - found[0] for offset in found] + (found if buckets else [])
    return all(shift % step == pd.Timedelta(0) for shift in shifts)


def to_wall(series: pd.Series, zone: str) -> pd.Series:
    """A checked UTC series (``capplan.series.checked``) on wall-clock time, in order. The hour repeated
    when DST ends holds two samples per wall time and gets their mean; the hour skipped when it starts
    is a gap one hour long, which ``prepare`` interpolates like any short one.

    Data that ends during the repeated hour's second pass stops at the wall time of its last sample:
    the first pass's later minutes are not newer, and the forecast starts after that sample."""
    if zone == UTC:
        return series
    observed = series.dropna()
    moved = series.set_axis(wall(pd.DatetimeIndex(series.index), zone))
    if len(observed):
        moved = moved[moved.index <= wall_time(observed.index[-1], zone)]
    if moved.index.is_monotonic_increasing and moved.index.is_unique:
        return moved
    # Jittery or off-hour samples of the two passes interleave rather than coincide: sorted, they fall
    # into the grid's buckets together.
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
    """Wall-clock steps that cover h UTC steps, with the clock put forward once on the way."""
    return h if zone == UTC else h + math.ceil(LARGEST_CHANGE / step)


def onto_utc(frame: pd.DataFrame, last: pd.Timestamp, step: pd.Timedelta, h: int, zone: str) -> pd.DataFrame:
    """A forecast on the wall-clock grid -> h steps on the UTC grid after ``last``: each UTC time takes
    the forecast for its wall-clock time (the repeated hour twice, the skipped one never)."""
    index = pd.DatetimeIndex(last + step * np.arange(1, h + 1), name="time")
    if zone == UTC:
        return frame.set_axis(index)
    rows = frame.index.get_indexer(wall(index, zone), method="nearest")
    return frame.iloc[rows].set_axis(index)
