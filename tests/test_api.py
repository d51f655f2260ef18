"""capplan.forecast's input handling: which column holds the times, and in which unit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import capplan
from capplan.api import parse_horizon, to_series
from capplan.errors import DataError

START = pd.Timestamp("2024-01-01", tz="UTC")


def frame(times) -> pd.DataFrame:
    return pd.DataFrame({"when": times, "value": np.arange(len(times), dtype=float)})


def test_a_column_named_timestamp_is_found():
    data = frame(pd.date_range(START, periods=5, freq="1h")).rename(columns={"when": "timestamp"})
    assert to_series(data).index[0] == START


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000_000])
def test_epoch_numbers_are_read_in_the_unit_their_size_says(scale):
    seconds = START.timestamp() + 3600 * np.arange(5)
    series = to_series(frame((seconds * scale).astype("int64")), time_column="when")
    assert series.index[0] == START and series.index[1] - series.index[0] == pd.Timedelta("1h")


def test_without_any_time_column_the_error_asks_for_one():
    with pytest.raises(DataError, match="which column holds the times"):
        to_series(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))


def test_row_numbers_are_not_read_as_times_in_1970():
    rows = pd.DataFrame({"time": range(500), "v": np.arange(500.0)})
    with pytest.raises(DataError, match=r"the times are the row numbers 0, 1, \.\.\.; give ISO-8601"):
        to_series(rows)
    hourly_seconds = pd.DataFrame({"time": 3600 * np.arange(500), "v": np.arange(500.0)})
    assert to_series(hourly_seconds).index[1] == pd.Timestamp("1970-01-01 01:00", tz="UTC")  # relative time
    with pytest.raises(DataError, match="cannot parse the times"):
        to_series(pd.DataFrame({"time": [np.nan, np.nan], "v": [1.0, 2.0]}))


def test_two_time_columns_are_not_reported_as_none():
    both = pd.DataFrame({"time": ["2024-01-01"] * 2, "Timestamp": ["2024-01-01"] * 2, "v": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"2 columns are named time or timestamp .* pass time_column"):
        to_series(both)


def test_a_duration_horizon_rounds_up_to_whole_steps():
    index = pd.date_range(START, periods=24 * 14, freq="1h")
    values = (
        10
        + np.sin(2 * np.pi * np.arange(len(index)) / 24)
        + np.random.default_rng(0).normal(0, 0.1, len(index))
    )
    assert len(capplan.forecast(pd.Series(values, index=index), horizon="90min").frame) == 2


def test_never_negative_history_gives_never_negative_forecasts(tmp_path):
    index = pd.date_range(START, periods=24 * 21, freq="1h")
    rng = np.random.default_rng(4)
    values = np.clip(
        0.3 + 0.2 * np.sin(2 * np.pi * np.arange(len(index)) / 24) + rng.normal(0, 0.3, len(index)), 0, None
    )
    result = capplan.forecast(pd.Series(values, index=index), horizon=48)
    assert (result.frame.min() >= 0).all()


@pytest.mark.parametrize("horizon", [24, 24.0, np.float64(24), "24", "24h"])
def test_whole_numbers_count_steps_and_text_durations_are_durations(horizon):
    index = pd.date_range(START, periods=24 * 14, freq="1h")
    values = 10 + np.sin(2 * np.pi * np.arange(len(index)) / 24)
    assert len(capplan.forecast(pd.Series(values, index=index), horizon=horizon).frame) == 24


@pytest.mark.parametrize("steps", [0, -5, "0", "-5", 0.0])
def test_a_horizon_of_no_steps_is_refused_before_fitting(steps):
    with pytest.raises(DataError, match=r"is not a positive number of steps; give steps \(e.g. 24\)"):
        parse_horizon(steps)


def test_a_duration_shorter_than_one_step_is_refused():
    index = pd.date_range(START, periods=24 * 14, freq="1h")
    with pytest.raises(DataError, match=r"horizon 30m is shorter than one step \(1h\); give 1h or more"):
        capplan.forecast(
            pd.Series(np.arange(len(index), dtype=float), index=index), horizon=pd.Timedelta("30min")
        )


@pytest.mark.parametrize(("text", "expected"), [("2d", "2 days"), ("1w", "7 days"), ("PT36H", "36 hours")])
def test_influxdb_and_iso_durations_are_read_without_pandas_deprecations(text, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas deprecates "d" and "w", the units TICK users write
        assert parse_horizon(text) == pd.Timedelta(expected)


@pytest.mark.parametrize("text", ["0h", "-3h", "soon", "nan", "NaT"])
def test_a_horizon_that_is_not_a_positive_duration_is_refused(text):
    with pytest.raises(DataError, match="duration like 7d or 48h"):
        parse_horizon(text)


def test_text_times_without_an_offset_stay_naive_for_fit_to_read_as_utc():
    """fit tells a local hour repeated when DST ends from other repeats only if it sees no offset."""
    naive = to_series(frame(["2024-01-01 00:00", "2024-01-01 01:00"]), time_column="when")
    assert naive.index.tz is None and naive.index[0] == START.tz_localize(None)
    mixed = to_series(frame(["2024-01-01T01:00+01:00", "2024-01-01T03:00+02:00"]), time_column="when")
    assert list(mixed.index) == [START, START + pd.Timedelta("1h")]
    with pytest.raises(DataError, match="repeat an hour when DST ends in Europe/London"):
        capplan.forecast(
            frame(["2024-10-27 00:00", "2024-10-27 01:00", "2024-10-27 01:00"]),
            2,
            time_column="when",
            timezone="Europe/London",
        )
