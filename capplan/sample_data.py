"""Built-in sample series for ``capplan demo``: one real CPU series (NAB, see data/README.md) and two
generated ones whose truth is known (a daily+weekly CPU cycle, a disk filling in straight segments)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from capplan.serieskey import SeriesKey

END = pd.Timestamp("2026-11-30 00:00", tz="UTC")


def seasonal_cpu(days: int = 42, seed: int = 1) -> pd.Series:
    """Hourly CPU % of a web server: business-hours daily cycle, quieter weekends, slow growth, noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(end=END, periods=days * 24, freq="h", name="time")
    hours = index.hour.to_numpy()
    weekend = index.day_of_week.to_numpy() >= 5
    daily = 18 * np.exp(-(((hours - 14) / 4.0) ** 2))
    values = (
        22
        + daily * np.where(weekend, 0.4, 1.0)
        + np.linspace(0, 6, len(index))
        + rng.normal(0, 1.5, len(index))
    )
    return pd.Series(values.round(3), index=index, name="usage_user")


def filling_disk(days: int = 42, seed: int = 2) -> pd.Series:
    """Hourly disk used % growing in three straight segments (slope changes on days 14 and 30)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(end=END, periods=days * 24, freq="h", name="time")
    t = np.arange(len(index)) / 24.0
    slope = np.select([t < 14, t < 30], [0.2, 0.05], 2.0)
    values = 40 + np.cumsum(slope / 24.0) + rng.normal(0, 0.05, len(index))
    return pd.Series(values.round(4), index=index, name="used_percent")


def nab_cpu() -> pd.Series:
    with resources.files("capplan.data").joinpath("nab_asg_cpu_hourly.csv").open() as handle:
        frame = pd.read_csv(handle)
    index = pd.DatetimeIndex(pd.to_datetime(frame["time"], utc=True), name="time")
    return pd.Series(frame["value"].to_numpy(dtype=float), index=index, name="cpu_utilization")


def samples() -> dict[SeriesKey, pd.Series]:
    return {
        SeriesKey.of("cpu", "usage_user", {"host": "web-01", "cpu": "cpu-total"}): seasonal_cpu(),
        SeriesKey.of(
            "disk", "used_percent", {"host": "db-01", "path": "/var/lib/postgresql"}
        ): filling_disk(),
        SeriesKey.of("cloudwatch", "cpu_utilization", {"host": "asg-misconfiguration"}): nab_cpu(),
    }
