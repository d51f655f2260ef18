"""The Grafana dashboard's InfluxQL, with its variables filled in as Grafana fills them, run against the
real InfluxDB on what capplan writes: each host panel shows one series, not the mean of a host's disks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capplan import influx
from capplan.capacity import time_to_threshold
from capplan.serieskey import SeriesKey

pytestmark = pytest.mark.servers

DASHBOARD = json.loads((Path(__file__).parents[1] / "grafana" / "dashboards" / "capplan.json").read_text())
START = pd.Timestamp("2026-11-01", tz="UTC")
HOURS = 48
PATHS = {"/": 40.0, "/data": 80.0}


def variable(name: str) -> dict:
    return next(v for v in DASHBOARD["templating"]["list"] if v["name"] == name)


def fill(query: str, values: dict[str, str]) -> str:
    """Grafana's substitution: a single-valued variable inside a /regex/ is regex-escaped."""
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        escaped = re.sub(r"([\\/^$.|?*+()\[\]{}])", r"\\\1", value)
        query = query.replace(f"/^${name}$/", f"/^{escaped}$/").replace(f"${name}", value)
    return query


@pytest.fixture
def written(influx_settings, influx_client):
    """db1's two disks, observed and forecast, and a capacity answer for each."""
    index = pd.date_range(START, periods=HOURS, freq="h")
    for path, level in PATHS.items():
        key = SeriesKey.of("disk", "used_percent", {"host": "db1", "path": path, "device": "sda"})
        points = [
            {
                "measurement": "disk",
                "tags": key.tag_dict,
                "time": int(t.value),
                "fields": {"used_percent": level},
            }
            for t in index[: HOURS // 2]
        ]
        influx.write_points(influx_client, influx_settings, points)
        forecast = pd.DataFrame(
            {"yhat": level + 1.0, "yhat_lower": level - 1.0, "yhat_upper": level + 3.0},
            index=index[HOURS // 2 :],
        )
        influx.write_forecast(influx_client, influx_settings, key, forecast, "linear")
        answer = time_to_threshold(forecast, level + 2.0, index[HOURS // 2 - 1])
        influx.write_capacity(influx_client, influx_settings, key, answer.fields(), answer.origin)
    return index


def run(client, settings, query: str) -> list:
    return list(client.query(query, database=settings.database).items())


def test_variables_offer_the_series_tags_and_their_values(written, influx_client, influx_settings):
    keys_query = fill(variable("tag")["query"], {"measurement": "disk"})
    keys = [row["tagKey"] for _, rows in run(influx_client, influx_settings, keys_query) for row in rows]
    pattern = re.compile(variable("tag")["regex"].strip("/"))
    assert [k for k in keys if pattern.match(k)] == ["device", "host", "path"]
    values_query = fill(variable("value")["query"], {"measurement": "disk", "tag": "path", "host": "db1"})
    values = [row["value"] for _, rows in run(influx_client, influx_settings, values_query) for row in rows]
    assert values == ["/", "/data"]


def test_a_host_panel_shows_the_chosen_disk_not_the_mean_of_both(written, influx_client, influx_settings):
    values = {
        "measurement": "disk",
        "field": "used_percent",
        "host": "db1",
        "tag": "path",
        "value": "/data",
        "timeFilter": f"time >= '{written[0].isoformat()}' AND time <= '{written[-1].isoformat()}'",
        "__interval": "1h",
    }
    observed, forecast = (
        run(influx_client, influx_settings, fill(t["query"], values))
        for t in DASHBOARD["panels"][0]["targets"]
    )
    [(_, rows)] = observed
    assert {r["observed"] for r in rows if r["observed"] is not None} == {80.0}
    [(_, rows)] = forecast
    assert {(r["forecast"], r["lower 95%"], r["upper 95%"]) for r in rows if r["forecast"] is not None} == {
        (81.0, 79.0, 83.0)
    }


def test_the_capacity_table_gives_the_dates_the_threshold_is_reached(written, influx_client, influx_settings):
    query = fill(
        DASHBOARD["panels"][1]["targets"][0]["query"],
        {"timeFilter": f"time >= '{written[0].isoformat()}' AND time <= '{written[-1].isoformat()}'"},
    )
    rows = {
        tags["path"]: next(iter(points)) for (_, tags), points in run(influx_client, influx_settings, query)
    }
    # The point forecast (level + 1) never reaches level + 2; the upper bound (level + 3) does at once.
    for row in rows.values():
        assert row["likely"] == -1 and row["latest"] == -1
        assert pd.Timestamp(row["earliest"], unit="ms", tz="UTC") == written[HOURS // 2]
    assert np.isclose(rows["/"]["threshold"], 42.0) and np.isclose(rows["/data"]["threshold"], 82.0)
