"""Series whose daily cycle follows a local clock: modelled on wall-clock time, forecast on UTC times."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capplan import clock, engine, zones
from capplan.engine import SeriesModel
from capplan.errors import DataError

ZONE = "Europe/Berlin"
AUTUMN = pd.Timestamp("2024-10-27 01:00", tz="UTC")  # 03:00 CEST -> 02:00 CET
SPRING = pd.Timestamp("2024-03-31 01:00", tz="UTC")  # 02:00 CET -> 03:00 CEST
FAST = ("snaive", "profile", "ensemble")


def office(index: pd.DatetimeIndex, seed: int = 0) -> np.ndarray:
    """Busy 9:00-17:00 Berlin time on weekdays, whatever UTC says."""
    local = index.tz_convert(ZONE)
    hour = local.hour + local.minute / 60
    busy = (hour >= 9) & (hour < 17) & (local.day_of_week < 5)
    return 20 + 50 * busy.astype(float) + np.random.default_rng(seed).normal(0, 2, len(index))


def hourly(end: pd.Timestamp, days: int) -> pd.Series:
    index = pd.date_range(end=end, periods=days * 24, freq="h")
    return pd.Series(office(index), index=index, name="cpu")


def test_the_repeated_hour_is_averaged_and_the_skipped_one_is_a_gap():
    index = pd.date_range(AUTUMN - pd.Timedelta("2h"), periods=5, freq="h")
    walled = clock.to_wall(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=index), ZONE)
    # 23:00, 00:00 UTC are 01:00, 02:00 CEST; 01:00, 02:00, 03:00 UTC are 02:00, 03:00, 04:00 CET
    assert list(walled.index.hour) == [1, 2, 3, 4] and list(walled) == [1.0, 2.5, 4.0, 5.0]
    index = pd.date_range(SPRING - pd.Timedelta("1h"), periods=3, freq="h")
    walled = clock.to_wall(pd.Series([1.0, 2.0, 3.0], index=index), ZONE)
    assert list(walled.index.hour) == [1, 3, 4]  # no 02:00 on that night


def test_a_wall_time_in_the_repeated_hour_maps_back_to_the_reading_it_came_from():
    when = pd.Timestamp("2024-10-27 02:30", tz="UTC")  # wall clock, labelled UTC
    first, second = AUTUMN - pd.Timedelta("30min"), AUTUMN + pd.Timedelta("30min")
    assert clock.to_utc(when, ZONE, near=first) == first
    assert clock.to_utc(when, ZONE, near=second) == second


def test_an_unknown_zone_is_named():
    with pytest.raises(DataError, match="unknown time zone 'Berlin'; give an IANA name"):
        zones.check("Berlin")
    with pytest.raises(DataError, match="unknown time zone 'Europe'"):  # a directory of zones: was OSError
        zones.check("Europe")
    with pytest.raises(DataError, match="unknown time zone"):
        engine.fit(hourly(AUTUMN, 21), 24, timezone="Berlin")


@pytest.mark.parametrize("change", [AUTUMN, SPRING], ids=["autumn", "spring"])
def test_office_hours_keep_their_local_time_across_a_dst_change(change):
    """Trained before the change, forecast across it: on UTC the forecast kept the old offset and
    every workday's first and last office hour was 50 off (MAE 5.0 after the change, 1.9 here)."""
    history = hourly(change - pd.Timedelta("3D"), 28)
    future = pd.date_range(history.index[-1] + pd.Timedelta("1h"), periods=168, freq="h")
    truth = office(future, seed=1)
    errors = {}
    for zone in ("UTC", ZONE):
        frame = engine.fit(history, 168, timezone=zone, candidates=FAST).forecast().frame
        assert frame.index.equals(pd.DatetimeIndex(future, name="time"))  # every UTC hour, once
        after = frame.index >= change
        errors[zone] = float(np.abs(truth - frame["yhat"].to_numpy())[after].mean())
    assert errors[ZONE] < 2.5 < 4.5 < errors["UTC"], errors


def test_history_across_the_change_gives_the_new_offset_and_it_round_trips(tmp_path: Path):
    """Two days after the autumn change: on UTC the profiles still had the summer offset, busy from
    8:00 to 16:00 local time (forecast 70 at 8:00 and 21 at 16:00)."""
    history = hourly(AUTUMN + pd.Timedelta("2D"), 28)
    model = engine.fit(history, 48, timezone=ZONE, candidates=FAST)
    frame = model.forecast().frame
    local = frame.index.tz_convert(ZONE)
    weekday = local.day_of_week < 5
    for hour, busy in ((8, False), (9, True), (16, True), (17, False)):
        assert ((frame["yhat"][weekday & (local.hour == hour)] > 45) == busy).all(), hour
    metadata = json.loads(json.dumps(model.save(tmp_path)))
    assert metadata["timezone"] == ZONE and metadata["data"]["last"] == history.index[-1].isoformat()
    loaded = SeriesModel.load(tmp_path, metadata)
    assert loaded.timezone == ZONE
    pd.testing.assert_frame_equal(loaded.forecast().frame, frame)


def test_an_update_across_the_change_follows_the_local_clock():
    """Trained the day before the change, updated on a week that ends two days after it (MAE 5.9 on
    UTC)."""
    history = hourly(AUTUMN - pd.Timedelta("1D"), 28)
    model = engine.fit(history, 48, timezone=ZONE, candidates=FAST)
    recent = hourly(AUTUMN + pd.Timedelta("2D"), 7)
    updated = model.update(recent)
    assert updated.last_observed == recent.index[-1]
    frame = updated.forecast().frame
    assert frame.index[0] == recent.index[-1] + pd.Timedelta("1h") and len(frame) == 48
    truth = office(frame.index, seed=3)
    assert float(np.abs(truth - frame["yhat"].to_numpy()).mean()) < 2.5


def test_a_level_shift_is_stored_at_its_utc_time_and_read_back_on_the_wall_clock(tmp_path: Path):
    history = hourly(pd.Timestamp("2024-07-10 12:00", tz="UTC"), 28)
    jump = history.index[-10]
    history[history.index >= jump] += 40
    model = engine.fit(history, 48, timezone=ZONE, candidates=FAST)
    metadata = json.loads(json.dumps(model.save(tmp_path)))
    assert [pd.Timestamp(s["at"]) for s in metadata["level_shifts"]] == [jump]
    assert SeriesModel.load(tmp_path, metadata).level_shifts == model.level_shifts


def quarter_hourly(end: pd.Timestamp, days: int, jitter_seconds: float = 0.0) -> pd.Series:
    index = pd.date_range(end=end, periods=days * 96, freq="15min")
    if jitter_seconds:
        offsets = np.random.default_rng(4).uniform(-jitter_seconds, jitter_seconds, len(index))
        index = index + pd.to_timedelta(offsets, unit="s")
    return pd.Series(office(index), index=index, name="cpu")


def test_jittery_samples_of_the_repeated_hour_are_put_in_order():
    """Samples a few seconds off the grid made the two passes interleave on the wall clock, unsorted:
    "timestamps not increasing", and no fit for four weeks every autumn."""
    history = quarter_hourly(AUTUMN + pd.Timedelta("2D"), 28, jitter_seconds=5)
    model = engine.fit(history, 96, timezone=ZONE, candidates=FAST)
    assert abs(model.last_observed - history.index[-1]) < pd.Timedelta("10s")


@pytest.mark.parametrize("minutes", [0, 30])
def test_data_ending_in_the_second_pass_of_the_repeated_hour_forecasts_from_its_last_sample(minutes):
    """The first pass's later minutes have later wall times: the model ended there, 25 minutes in the
    future or one sample in the past."""
    history = quarter_hourly(AUTUMN + pd.Timedelta(minutes=minutes), 28)
    model = engine.fit(history, 8, timezone=ZONE, candidates=FAST)
    assert model.last_observed == history.index[-1]
    assert model.forecast().frame.index[0] == history.index[-1] + pd.Timedelta("15min")


def test_an_update_on_the_second_pass_moves_the_model_forward():
    history = quarter_hourly(AUTUMN - pd.Timedelta("15min"), 28)  # ends in the first pass, 02:45 CEST
    model = engine.fit(history, 8, timezone=ZONE, candidates=FAST)
    second = quarter_hourly(AUTUMN + pd.Timedelta("15min"), 1).loc[AUTUMN:]  # 02:00 and 02:15 CET
    updated = model.update(second)
    assert updated.last_observed == AUTUMN + pd.Timedelta("15min")
    assert updated.forecast().frame.index[0] == AUTUMN + pd.Timedelta("30min")


@pytest.mark.parametrize(("zone", "step"), [(ZONE, "2h"), (ZONE, "1D"), ("Asia/Kolkata", "1h")])
def test_a_grid_that_cannot_follow_the_clock_is_modelled_on_utc(zone, step, caplog):
    """A 2-hour or daily grid on the wall clock changes phase at each change, and an hourly one at
    +05:30 falls between UTC hours: the model's last point and its forecast fell between the data's
    own times."""
    history = quarter_hourly(AUTUMN + pd.Timedelta("20D"), 120)
    with caplog.at_level("WARNING", logger="capplan.engine"):
        model = engine.fit(history, 4, timezone=zone, step=pd.Timedelta(step), candidates=FAST)
    assert model.timezone == "UTC" and "modelled on UTC time" in caplog.text
    assert model.forecast().frame.index[0] == model.last_observed + pd.Timedelta(step)
    assert model.last_observed == history.index[-1].floor(step)


def test_a_zone_that_is_utc_by_another_name_is_utc():
    model = engine.fit(hourly(AUTUMN, 28), 24, timezone="Etc/UTC", candidates=FAST)
    assert model.timezone == "UTC"


def test_a_stored_model_with_an_unknown_zone_is_a_model_error(tmp_path: Path):
    from capplan.errors import ModelError

    metadata = json.loads(json.dumps(engine.fit(hourly(AUTUMN, 28), 24, candidates=FAST).save(tmp_path)))
    metadata["timezone"] = "Mars/Olympus"
    with pytest.raises(ModelError, match="unknown time zone 'Mars/Olympus'"):
        SeriesModel.load(tmp_path, metadata)


def test_a_half_hour_zone_whose_data_sits_on_its_local_hours_keeps_its_clock():
    """Adelaide (+09:30/+10:30): hourly readings on the local hour are at :30 UTC. Its changes are whole
    hours, so its wall clock is kept; read as offsets from UTC's hours it fell back to UTC time."""
    zone = "Australia/Adelaide"
    index = pd.date_range(end=pd.Timestamp("2024-04-09 00:30", tz="UTC"), periods=28 * 24, freq="h")
    local = index.tz_convert(zone)
    busy = (local.hour >= 9) & (local.hour < 17) & (local.day_of_week < 5)
    history = pd.Series(20 + 50 * busy.astype(float), index=index, name="cpu")
    model = engine.fit(history, 48, timezone=zone, candidates=FAST)
    assert model.timezone == zone
    frame = model.forecast().frame
    local = frame.index.tz_convert(zone)
    weekday = local.day_of_week < 5
    assert (frame["yhat"][weekday & (local.hour == 9)] > 45).all()
    assert (frame["yhat"][weekday & (local.hour == 8)] < 45).all()


def test_three_weeks_across_the_autumn_change_keep_the_weekly_cycle():
    """Counted in points, the averaged repeated hour left 2,012 of 15-minute data, four short of three
    weekly cycles: the week was dropped and Monday was forecast like Sunday (MAE 9.4; on UTC 3.8)."""
    history = quarter_hourly(AUTUMN + pd.Timedelta("1h"), 21)
    model = engine.fit(history, 96, timezone=ZONE, candidates=FAST)
    assert 672 in model.ctx.periods
