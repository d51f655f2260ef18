import pandas as pd
import pytest

from capplan.capacity import NOT_WITHIN_HORIZON, threshold_for, time_to_threshold
from capplan.config import Threshold
from capplan.serieskey import SeriesKey


def _linear_forecast(start: float, slope_per_hour: float, spread: float, hours: int = 240) -> pd.DataFrame:
    index = pd.date_range("2026-01-01 01:00", periods=hours, freq="h", tz="UTC", name="time")
    yhat = start + slope_per_hour * pd.Series(range(1, hours + 1), index=index, dtype=float)
    return pd.DataFrame({"yhat": yhat, "yhat_lower": yhat - spread, "yhat_upper": yhat + spread})


def test_rising_disk_crosses_upper_then_point_then_lower():
    origin = pd.Timestamp("2026-01-01 00:00", tz="UTC")
    forecast = _linear_forecast(start=80.0, slope_per_hour=0.1, spread=2.0)  # 90 reached after 100 h
    answer = time_to_threshold(forecast, 90.0, origin)
    assert answer.seconds(answer.likely) == 100 * 3600
    assert answer.seconds(answer.earliest) == 80 * 3600  # upper = yhat + 2 -> 20 h earlier
    assert answer.seconds(answer.latest) == 120 * 3600
    fields = answer.fields()
    assert fields["seconds_to_threshold"] == 360000 and fields["horizon_seconds"] == 240 * 3600
    reached = pd.Timestamp(fields["reached_ms"], unit="ms", tz="UTC")
    assert reached == answer.origin + pd.Timedelta(seconds=360000)
    assert answer.describe() == "threshold 90: likely in 4.2 d (earliest in 3.3 d, latest in 5.0 d)"


def test_not_reached_within_horizon_is_marked():
    origin = pd.Timestamp("2026-01-01 00:00", tz="UTC")
    answer = time_to_threshold(_linear_forecast(10.0, 0.01, 1.0), 90.0, origin)
    assert answer.likely is None
    assert answer.fields()["seconds_to_threshold_latest"] == NOT_WITHIN_HORIZON
    assert answer.fields()["reached_latest_ms"] == NOT_WITHIN_HORIZON
    assert answer.describe() == "threshold 90: not reached within the 10.0 d horizon, even by the band"


def test_only_the_upper_bound_crossing_within_horizon_says_so():
    origin = pd.Timestamp("2026-01-01 00:00", tz="UTC")
    answer = time_to_threshold(_linear_forecast(80.0, 0.035, 2.0), 90.0, origin)  # upper at 229 h
    assert answer.describe() == "threshold 90: likely after 10.0 d (earliest in 9.5 d, latest after 10.0 d)"


def test_falling_headroom_uses_lower_bound_first():
    origin = pd.Timestamp("2026-01-01 00:00", tz="UTC")
    forecast = _linear_forecast(start=50.0, slope_per_hour=-0.5, spread=5.0)  # 10 reached after 80 h
    answer = time_to_threshold(forecast, 10.0, origin, direction="below")
    assert [answer.seconds(t) // 3600 for t in (answer.earliest, answer.likely, answer.latest)] == [
        70,
        80,
        90,
    ]


def test_most_specific_threshold_wins():
    key = SeriesKey.of("disk", "used_percent", {"host": "db1", "path": "/var"})
    general = Threshold("disk", "used_percent", 90.0)
    special = Threshold("disk", "used_percent", 80.0, tags={"path": "/var"})
    other = Threshold("disk", "used_percent", 50.0, tags={"path": "/home"})
    assert threshold_for(key, [general, special, other]) is special
    assert threshold_for(SeriesKey.of("mem", "used_percent", {"host": "db1"}), [general]) is None


def test_empty_forecast_is_an_error():
    with pytest.raises(ValueError, match="empty forecast"):
        time_to_threshold(_linear_forecast(1, 1, 1).iloc[:0], 5.0, pd.Timestamp("2026-01-01", tz="UTC"))
