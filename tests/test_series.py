"""Series preparation: regular UTC grid, gaps kept as gaps, bad input refused with a clear message."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from capplan.errors import DataError
from capplan.series import checked, infer_step, prepare


def hourly(n: int = 200, start: str = "2024-01-01", tz: str | None = "UTC") -> pd.Series:
    index = pd.date_range(start, periods=n, freq="1h", tz=tz)
    return pd.Series(np.sin(np.arange(n) / 3.0) + 5, index=index)


def test_regular_grid_in_utc_named_time():
    s = hourly(tz="Europe/Paris")
    p = prepare(s, "cpu")
    assert str(p.values.index.tz) == "UTC"
    assert p.values.index.name == "time"
    assert p.step == pd.Timedelta("1h")
    assert p.values.index[0] == s.index[0].tz_convert("UTC")
    assert np.allclose(p.values.to_numpy(), s.to_numpy())


def test_naive_timestamps_are_taken_as_utc():
    p = prepare(hourly(tz=None), "cpu")
    assert p.values.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_jittery_step_snaps_to_a_round_interval():
    index = pd.DatetimeIndex(
        pd.date_range("2024-01-01", periods=50, freq="1min").as_unit("ns").asi8
        + 1_000_000_000 * (np.arange(50) % 2),
        tz="UTC",
    )
    assert infer_step(index) == pd.Timedelta("1min")


def test_microsecond_index_infers_the_right_step():
    s = hourly()
    s.index = s.index.as_unit("us")
    assert prepare(s, "cpu").step == pd.Timedelta("1h")


def test_short_gap_is_interpolated_not_zero_filled():
    s = hourly().drop(hourly().index[100:103])
    p = prepare(s, "cpu")
    assert p.interpolated == 3
    assert len(p.values) == 200
    filled = p.values.iloc[100:103].to_numpy()
    assert np.all(filled > 3.5)  # between its neighbours (~4..6), never 0
    assert (
        p.values.index.freq is not None
        or (np.diff(p.values.index.asi8) == np.diff(p.values.index.asi8)[0]).all()
    )


def test_long_gap_keeps_the_part_after_it_and_logs(caplog):
    s = hourly(400).drop(hourly(400).index[100:150])
    with caplog.at_level(logging.WARNING):
        p = prepare(s, "cpu")
    assert p.values.index[0] == s.index[100]
    assert p.dropped_before == s.index[100]
    assert len(p.values) == 250
    assert "gap" in caplog.text and "cpu" in caplog.text
    # 250 steps are enough to go on with: the rule is given, not "wait for more data"
    assert caplog.text.rstrip().endswith("keeping only the 250 steps after it: gaps over 1d are cut")


def test_explicit_step_resamples_to_means():
    p = prepare(hourly(48), "cpu", step=pd.Timedelta("2h"))
    assert len(p.values) == 24
    assert p.values.iloc[0] == pytest.approx(hourly(48).iloc[:2].mean())


@pytest.mark.parametrize(
    ("series", "problem"),
    [
        (hourly().iloc[::-1], "not increasing"),
        (pd.concat([hourly(10), hourly(10)]).sort_index(), "is given 2 times"),
        (hourly() * np.nan, "all NaN"),
        (hourly() * 0 + 3, "constant"),
        (hourly(3), "only 3 values"),
        (hourly().where(hourly().index != hourly().index[5], np.inf), "infinite value at .* drop or fix"),
    ],
)
def test_bad_input_names_the_series_and_the_problem(series, problem):
    with pytest.raises(DataError, match=problem) as info:
        prepare(series, "web01 cpu")
    assert "web01 cpu" in str(info.value)


def test_non_datetime_index_is_refused():
    with pytest.raises(DataError, match="not timestamps"):
        prepare(pd.Series([1.0, 2.0]), "x")


def test_grid_keeps_the_data_phase_so_forecasts_follow_the_last_observation():
    index = pd.date_range("2024-01-01 00:30", periods=24 * 10, freq="1h", tz="UTC")
    prepared = prepare(pd.Series(np.arange(len(index), dtype=float), index=index), "half-past")
    assert prepared.values.index[0] == index[0] and prepared.last_observed == index[-1]
    assert prepared.interpolated == 0


def test_jitter_below_half_a_step_is_absorbed():
    index = pd.date_range("2024-01-01", periods=3 * 1440, freq="1min", tz="UTC")
    jitter = pd.to_timedelta(np.random.default_rng(0).uniform(-2, 2, len(index)), unit="s")
    values = np.sin(np.arange(len(index)) / 100.0)
    prepared = prepare(pd.Series(values, index=index + jitter), "jittery")
    assert prepared.step == pd.Timedelta("1min") and prepared.interpolated == 0
    assert len(prepared.values) == len(index)


def test_daily_local_midnights_across_dst_stay_one_point_per_day():
    index = pd.date_range("2024-02-01", periods=120, freq="D", tz="Europe/London")
    prepared = prepare(pd.Series(np.arange(120, dtype=float), index=index), "daily")
    assert len(prepared.values) == 120
    np.testing.assert_array_equal(prepared.values.to_numpy(), np.arange(120, dtype=float))
    assert abs(prepared.last_observed - index[-1]) <= pd.Timedelta("1h")


def test_repeated_local_hour_at_the_end_of_dst_is_explained():
    local = pd.DatetimeIndex(["2024-10-27 00:00", "2024-10-27 01:00", "2024-10-27 01:00", "2024-10-27 02:00"])
    with pytest.raises(DataError, match="without a UTC offset repeat an hour when DST ends in Europe/London"):
        checked(pd.Series([1.0, 2.0, 3.0, 4.0], index=local), "naive-local", "Europe/London")


SPRING = ["2014-03-09 02:55", "2014-03-09 03:00", "2014-03-09 03:00", "2014-03-09 03:05"]


@pytest.mark.parametrize(
    ("times", "zone"),
    [
        (SPRING, "UTC"),
        (SPRING, "America/New_York"),
        (
            ["2024-10-27T00:00Z", "2024-10-27T01:00Z", "2024-10-27T01:00Z", "2024-10-27T02:00Z"],
            "Europe/London",
        ),
    ],
)
def test_other_repeated_times_name_the_rows_not_dst(times, zone):
    """No local zone, an hour no clock repeats (New York puts its clock forward at 02:00), or times in
    UTC: the DST hint could not help, removing or averaging the repeated rows does."""
    with pytest.raises(DataError, match=r"is given 2 times \(data rows 2, 3\); keep one row per time") as err:
        checked(pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.to_datetime(times)), "cpu", zone)
    assert "DST" not in str(err.value)


def test_too_little_after_a_long_gap_says_to_wait_for_data():
    index = pd.date_range("2024-01-01", periods=200, freq="1h", tz="UTC")
    series = pd.Series(np.arange(200.0), index=index).drop(index[150:196])
    with pytest.raises(
        DataError, match=r"only 4 steps of 1h; .* after the gap ending 2024-01-09 04:00.* over 1d"
    ):
        prepare(series, "gap")


def test_one_late_first_sample_does_not_move_the_grid():
    index = pd.date_range("2024-03-01", periods=24 * 10, freq="1h", tz="UTC")
    late = index.to_series().copy()
    late.iloc[0] += pd.Timedelta("25min")
    prepared = prepare(pd.Series(np.arange(len(index), dtype=float), index=pd.DatetimeIndex(late)), "late")
    assert prepared.last_observed == index[-1] and prepared.interpolated == 0


def test_after_dst_the_grid_follows_the_current_clock():
    index = pd.date_range("2024-01-01", periods=200, freq="D", tz="Europe/Berlin")
    prepared = prepare(pd.Series(np.arange(200, dtype=float), index=index), "daily")
    assert prepared.last_observed == index[-1]  # local midnight in summer time, not 01:00
    assert len(prepared.values) == 200


def test_a_gap_of_hours_takes_the_shape_of_the_day_before():
    """A night's outage 20 h before the end used to cut the history to those 20 h, blocking every fit."""
    index = pd.date_range("2024-01-01", periods=24 * 21, freq="1h", tz="UTC")
    t = np.arange(len(index))
    truth = pd.Series(50 + 0.01 * t + 10 * np.sin(2 * np.pi * t / 24), index=index)
    gap = slice(len(index) - 30, len(index) - 20)  # 10 h
    p = prepare(truth.drop(index[gap]), "cpu")
    assert len(p.values) == len(index) and p.dropped_before is None and p.interpolated == 10
    assert np.abs(p.values.iloc[gap] - truth.iloc[gap]).max() < 0.5  # a straight line would be off by ~20


def test_a_gap_longer_than_a_day_still_splits_the_history():
    index = pd.date_range("2024-01-01", periods=24 * 10, freq="1h", tz="UTC")
    series = pd.Series(np.sin(np.arange(len(index)) / 3.8) + 5, index=index).drop(index[100:126])
    assert prepare(series, "cpu").dropped_before == index[126]


def test_a_night_out_of_a_week_is_bridged_and_more_cuts_instead_of_failing():
    """A retrain sees a week: a 10-hour outage is 6% of it and is bridged; a 22-hour one in 200 hours
    (11%) is over the budget and cuts the history instead of refusing it."""
    index = pd.date_range("2024-01-01", periods=168, freq="1h", tz="UTC")
    week = pd.Series(np.sin(np.arange(168) * 2 * np.pi / 24) + 5, index=index)
    assert prepare(week.drop(index[148:158]), "cpu").dropped_before is None
    index = pd.date_range("2024-01-01", periods=200, freq="1h", tz="UTC")
    series = pd.Series(np.sin(np.arange(200) * 2 * np.pi / 24) + 5, index=index).drop(index[120:142])
    p = prepare(series, "cpu")
    assert p.dropped_before == index[142] and len(p.values) == 58


def test_gaps_under_a_day_over_the_bridging_share_cut_at_the_oldest_gap_that_keeps_within_it(caplog):
    """Three 20-hour outages in three weeks are 12% of the steps, over the 10% that may be bridged. The
    history was cut at the newest gap (64 steps kept); now at the oldest that leaves the rest within the
    share (234 steps, the newest gap bridged). The warning and the errors name that rule (they called a
    gap of hours "the long gap", and told to wait for data where filling gaps or a coarser step helps)."""
    index = pd.date_range("2024-01-01", periods=24 * 21, freq="1h", tz="UTC")
    series = pd.Series(np.sin(np.arange(len(index)) * 2 * np.pi / 24) + 5, index=index)
    rule = "kept with it, gaps would make up 40 of 384 steps, over the 10% that may be bridged"
    with caplog.at_level(logging.WARNING):
        p = prepare(series.drop(index[np.r_[100:120, 250:270, 420:440]]), "cpu")
    assert p.dropped_before == index[270] and len(p.values) == 234 and p.bridged == 20
    assert (
        f"20h gap from {index[250]} to {index[270]} cut, keeping only the 234 steps after it: {rule}"
        in caplog.text
    )
    five = np.r_[100:120, 200:220, 300:320, 400:420, 480:500]  # from each gap on, over 10% missing
    rule = "kept with it, gaps would make up 20 of 84 steps, over the 10% that may be bridged"
    with pytest.raises(
        DataError, match=rf"only 4 steps of 1h; .* {re.escape(rule)}; fill the gaps or use a coarser step"
    ):
        prepare(series.drop(index[five]), "cpu")
