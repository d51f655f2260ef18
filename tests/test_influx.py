"""InfluxDB adapter against the real server: exact series selection for any tag value, gaps stay gaps,
forecasts replaced without losing the old one on failure."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capplan import influx
from capplan import influxql as q
from capplan.config import SeriesSpec
from capplan.errors import ConfigError, DataError, InfluxError
from capplan.serieskey import SeriesKey
from tests import servers

pytestmark = pytest.mark.servers

AWKWARD = [
    "srv 1",
    "o'brien,x=y",
    'say "hi"',
    "back\\slash",
    "C:\\temp\\x",
    "naïve ☃",
    "/dev/sda1",
    "../etc",
    "a=b c,d",
]
HOUR = pd.Timedelta("1h")
START = pd.Timestamp("2026-11-01 00:00", tz="UTC")


def _write_values(client, settings_, key: SeriesKey, values) -> None:
    points = [
        {
            "measurement": key.measurement,
            "tags": key.tag_dict,
            "time": int((START + i * HOUR).value),
            "fields": {key.field: float(v)},
        }
        for i, v in enumerate(values)
        if not np.isnan(v)
    ]
    influx.write_points(client, settings_, points)


def _forecast(start: pd.Timestamp, n: int, level: float) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="h", tz="UTC", name="time")
    yhat = np.full(n, level)
    return pd.DataFrame({"yhat": yhat, "yhat_lower": yhat - 1, "yhat_upper": yhat + 1}, index=index)


def test_awkward_tag_values_are_read_exactly(influx_client, influx_settings):
    keys = [SeriesKey.of("disk", "used_percent", {"host": v, "path": "/"}) for v in AWKWARD]
    for i, key in enumerate(keys):
        _write_values(influx_client, influx_settings, key, [i * 10 + h for h in range(6)])
    # a series with an extra tag must not leak into its neighbour's reads
    _write_values(
        influx_client,
        influx_settings,
        SeriesKey.of("disk", "used_percent", {"host": "srv 1", "path": "/", "dev": "x"}),
        [999] * 6,
    )
    found = influx.discover_series(
        influx_client,
        influx_settings,
        SeriesSpec("disk", "used_percent", where={"path": "/"}),
        lookback=pd.Timedelta("3650D"),
    )
    assert set(keys) <= set(found) and len(found) == len(keys) + 1
    for i, key in enumerate(keys):
        series = influx.read_series(
            influx_client,
            influx_settings,
            key,
            aggregate="mean",
            every=HOUR,
            start=START,
            end=START + 6 * HOUR,
        )
        assert list(series) == [i * 10 + h for h in range(6)], key


def test_gaps_come_back_as_nan_not_zero(influx_client, influx_settings):
    key = SeriesKey.of("cpu", "usage", {"host": "a"})
    values = [1.0, 2.0, np.nan, np.nan, 5.0, 6.0]
    _write_values(influx_client, influx_settings, key, values)
    series = influx.read_series(
        influx_client, influx_settings, key, aggregate="max", every=HOUR, start=START, end=START + 6 * HOUR
    )
    assert series.index[0] == START and series.index.tz is not None
    np.testing.assert_array_equal(series.to_numpy(), values)


def test_unknown_aggregate_is_refused(influx_client, influx_settings):
    with pytest.raises(ConfigError, match=re.escape("aggregate 'mean(x)); DROP' is not one of")):
        influx.read_series(
            influx_client,
            influx_settings,
            SeriesKey.of("m", "f"),
            aggregate="mean(x)); DROP",
            every=HOUR,
            start=START,
            end=START + HOUR,
        )


def test_forecast_replaced_point_by_point_and_leftovers_removed(influx_client, influx_settings):
    key = SeriesKey.of("cpu", "usage", {"host": "web 1", "cpu": "cpu-total"})
    neighbour = SeriesKey.of("cpu", "usage", {"host": "web 1", "cpu": "cpu-total", "extra": "y"})
    influx.write_forecast(influx_client, influx_settings, neighbour, _forecast(START, 48, 7.0), "mstl")
    assert influx.write_forecast(influx_client, influx_settings, key, _forecast(START, 48, 1.0), "lstm") == 48
    # New run: starts 24 h later, shorter horizon, another model.
    influx.write_forecast(influx_client, influx_settings, key, _forecast(START + 24 * HOUR, 12, 2.0), "mstl")
    stored = influx.read_forecast(influx_client, influx_settings, key)
    assert len(stored) == 24 + 12  # old points before the new run stay; beyond the new horizon are gone
    assert (stored["yhat"].iloc[:24] == 1.0).all() and (stored["yhat"].iloc[24:] == 2.0).all()
    latest = influx.read_forecast(influx_client, influx_settings, key, since=START + 24 * HOUR)
    assert len(latest) == 12 and (latest["yhat"] == 2.0).all()
    query = 'SELECT "yhat", "capplan_model" FROM "pred_cpu" WHERE "extra" = \'\''
    models = influx_client.query(query).get_points()
    assert {r["capplan_model"] for r in models} == {"lstm", "mstl"}  # lstm only where no mstl point exists
    assert len(influx.read_forecast(influx_client, influx_settings, neighbour)) == 48  # untouched


def test_two_fields_of_one_measurement_keep_their_own_forecasts(influx_client, influx_settings):
    user = SeriesKey.of("cpu", "usage_user", {"host": "web 1"})
    system = SeriesKey.of("cpu", "usage_system", {"host": "web 1"})
    influx.write_forecast(influx_client, influx_settings, user, _forecast(START, 24, 60.0), "mstl")
    influx.write_forecast(influx_client, influx_settings, system, _forecast(START, 12, 5.0), "profile")
    assert (influx.read_forecast(influx_client, influx_settings, user)["yhat"] == 60.0).all()
    assert len(influx.read_forecast(influx_client, influx_settings, user)) == 24
    assert (influx.read_forecast(influx_client, influx_settings, system)["yhat"] == 5.0).all()
    fields = influx_client.query('SHOW TAG VALUES FROM "pred_cpu" WITH KEY = "capplan_field"').get_points()
    assert {r["value"] for r in fields} == {"usage_user", "usage_system"}


def test_capacity_point(influx_client, influx_settings):
    key = SeriesKey.of("disk", "used_percent", {"host": "db1"})
    influx.write_capacity(
        influx_client, influx_settings, key, {"seconds_to_threshold": 3600, "threshold": 90.0}, START
    )
    rows = list(influx_client.query('SELECT * FROM "capacity_disk"').get_points())
    assert (
        rows[0]["host"] == "db1"
        and rows[0]["capplan_field"] == "used_percent"
        and rows[0]["seconds_to_threshold"] == 3600
    )


def test_server_gone_mid_run_is_a_clear_error_and_old_forecast_stays(tmp_path):
    server = servers.start_influxdb(tmp_path)
    key = SeriesKey.of("cpu", "usage", {"host": "a"})
    try:
        settings_ = influx.InfluxSettings(url=server.url, database="db")
        client = influx.connect(settings_)
        client.create_database("db")
        influx.write_forecast(client, settings_, key, _forecast(START, 24, 1.0), "mstl")
        server.stop()
        with pytest.raises(
            InfluxError, match=f"InfluxDB unreachable at {re.escape(server.url)} during the write"
        ):
            influx.write_forecast(client, settings_, key, _forecast(START + 12 * HOUR, 6, 5.0), "lstm")
        with pytest.raises(InfluxError, match=f"InfluxDB unreachable at {re.escape(server.url)}"):
            influx.read_series(
                client, settings_, key, aggregate="mean", every=HOUR, start=START, end=START + HOUR
            )
    finally:
        server.stop()
    server = servers.start_influxdb(tmp_path)  # same data directory, new port
    try:
        settings_ = influx.InfluxSettings(url=server.url, database="db")
        stored = influx.read_forecast(influx.connect(settings_), settings_, key)
        assert len(stored) == 24 and (stored["yhat"] == 1.0).all()
    finally:
        server.stop()


def test_missing_database_is_named(influx_client, influx_settings):
    other = dataclasses.replace(influx_settings, database="nope")
    with pytest.raises(InfluxError, match="database 'nope' not found"):
        influx.read_series(
            influx.connect(other),
            other,
            SeriesKey.of("m", "f"),
            aggregate="mean",
            every=HOUR,
            start=START,
            end=START + HOUR,
        )


def _representable(text: str, special: str = ", =") -> bool:
    control = any(ord(c) < 32 for c in text)
    return not control and not text.endswith("\\") and not any("\\" + c in text for c in special)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=20).filter(
        lambda s: "\x00" not in s and "\n" not in s and s.strip() == s
    ),
    value=st.text(max_size=20).filter(lambda s: "\x00" not in s and "\n" not in s),
)
@example(name="a\\b", value="C:\\temp\\")
@example(name="x\\=y", value="v")
@example(name='we"ird', value="x\\ y")
@example(name="m'x", value="o'brien,x=y\\z")
@example(name='q\\"x', value="v")  # the server would drop this backslash in measurement and field
@example(name="q", value='v\\"w')  # ... but keeps it in tag values
def test_quoting_round_trips_any_text_on_the_server(influx_client, influx_settings, name, value):
    """Measurement/field/tag names and tag values of arbitrary text survive write -> InfluxQL read, or
    are refused clearly when InfluxDB 1.x line protocol cannot carry them."""
    key = SeriesKey.of("m " + name, "f " + name, {"t " + name: value} if value.strip() else {})
    points = [
        {
            "measurement": key.measurement,
            "tags": key.tag_dict,
            "time": int(START.value),
            "fields": {key.field: 42.0},
        }
    ]
    tag_texts = [*key.tag_dict, *key.tag_dict.values()]
    representable = (
        _representable(key.measurement, ', ="')
        and _representable(key.field, ', ="')
        and all(_representable(t) for t in tag_texts)
    )
    if not representable:
        with pytest.raises(InfluxError, match=r"(InfluxDB|line protocol) cannot carry"):
            influx.write_points(influx_client, influx_settings, points)
        return
    influx_client.query(f"DROP MEASUREMENT {q.ident(key.measurement)}")
    influx.write_points(influx_client, influx_settings, points)
    series = influx.read_series(
        influx_client, influx_settings, key, aggregate="last", every=HOUR, start=START, end=START + HOUR
    )
    assert list(series) == [42.0]


def test_custom_retention_policy_is_read_and_written(influx_client, influx_settings):
    influx_client.create_retention_policy("year", "52w", 1, database=influx_settings.database)
    year = dataclasses.replace(influx_settings, retention_policy="year")
    key = SeriesKey.of("cpu", "usage", {"host": "a"})
    _write_values(influx_client, year, key, [1.0, 2.0])
    _write_values(influx_client, influx_settings, key, [9.0, 9.0])  # default RP, must not be mixed in
    series = influx.read_series(
        influx_client, year, key, aggregate="mean", every=HOUR, start=START, end=START + 2 * HOUR
    )
    assert list(series) == [1.0, 2.0]
    influx.write_forecast(influx_client, year, key, _forecast(START, 24, 1.0), "mstl")
    assert len(influx.read_forecast(influx_client, year, key)) == 24
    assert influx.read_forecast(influx_client, influx_settings, key).empty


def test_auth_is_used_and_bad_credentials_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("INFLUXDB_HTTP_AUTH_ENABLED", "true")  # influxd reads it over its config file
    server = servers.start_influxdb(tmp_path)
    try:
        admin = influx.InfluxSettings(url=server.url, database="db", username="admin", password="s3cret'\"")
        client = influx.connect(admin)
        client.query(f"CREATE USER admin WITH PASSWORD {q.literal(admin.password)} WITH ALL PRIVILEGES")
        client.create_database("db")
        key = SeriesKey.of("disk", "used_percent", {"host": "a"})
        influx.write_forecast(client, admin, key, _forecast(START, 6, 50.0), "mstl")
        assert len(influx.read_forecast(client, admin, key)) == 6
        wrong = dataclasses.replace(admin, password="nope")
        with pytest.raises(InfluxError, match="refused the credentials"):
            influx.read_forecast(influx.connect(wrong), wrong, key)
        with pytest.raises(InfluxError, match="refused the credentials for the write"):
            influx.write_forecast(influx.connect(wrong), wrong, key, _forecast(START, 6, 1.0), "mstl")
        assert (influx.read_forecast(client, admin, key)["yhat"] == 50.0).all()
    finally:
        server.stop()


def test_missing_retention_policy_is_named(influx_client, influx_settings):
    other = dataclasses.replace(influx_settings, retention_policy="nope")
    with pytest.raises(InfluxError, match="retention policy 'nope' not found"):
        influx.write_capacity(
            influx_client, other, SeriesKey.of("disk", "used_percent"), {"threshold": 90.0}, START
        )


def test_empty_or_nan_forecast_is_refused_before_anything_changes(influx_client, influx_settings):
    key = SeriesKey.of("cpu", "usage", {"host": "a"})
    influx.write_forecast(influx_client, influx_settings, key, _forecast(START, 6, 1.0), "mstl")
    with pytest.raises(ValueError, match="empty forecast"):
        influx.write_forecast(influx_client, influx_settings, key, _forecast(START, 0, 1.0), "mstl")
    broken = _forecast(START, 3, 2.0)
    broken.iloc[1, 0] = np.nan
    with pytest.raises(InfluxError, match="not finite"):
        influx.write_forecast(influx_client, influx_settings, key, broken, "lstm")
    assert (influx.read_forecast(influx_client, influx_settings, key)["yhat"] == 1.0).all()


def test_a_series_with_its_own_model_and_field_tags_keeps_them(influx_client, influx_settings):
    """Telegraf's smart plugin tags a disk with ``model``: capplan's own tags must not overwrite it."""
    key = SeriesKey.of("smart_device", "temp_c", {"device": "sda", "model": "Samsung", "field": "x"})
    influx.write_forecast(influx_client, influx_settings, key, _forecast(START, 12, 40.0), "linear")
    assert (influx.read_forecast(influx_client, influx_settings, key)["yhat"] == 40.0).all()
    rows = list(influx_client.query('SELECT * FROM "pred_smart_device"').get_points())
    assert {(r["model"], r["field"], r["capplan_model"], r["capplan_field"]) for r in rows} == {
        ("Samsung", "x", "linear", "temp_c")
    }


def test_a_series_tagged_like_capplan_is_refused_before_anything_is_written(influx_client, influx_settings):
    key = SeriesKey.of("cpu", "usage_user", {"host": "a", "capplan_model": "mine"})
    with pytest.raises(DataError, match="rename the tag"):
        influx.write_forecast(influx_client, influx_settings, key, _forecast(START, 12, 1.0), "mstl")
    assert not list(influx_client.query('SHOW MEASUREMENTS WITH MEASUREMENT = "pred_cpu"').get_points())
