"""The whole loop on the real servers: weeks of history -> train -> forecast -> alert tasks; real points
that follow the forecast change nothing; drifting points make Kapacitor alert (Slack + exec), the hook
hands off a retrain, the model version increments and a new forecast is stored. Per-series and grouped,
with awkward tag values, and measured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capplan import alerts, hook, influx, pipeline
from capplan.config import KapacitorSettings, LogSettings, ModelSettings, Settings
from capplan.kapacitor import KapacitorClient
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore
from tests.bootstrap import run_bootstrap

pytestmark = [pytest.mark.servers, pytest.mark.slow]

SEC = 10**9
AWKWARD = 'web 1 o\'brien "x" /srv,a=b ünï'


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string for these values


def write_history(settings: Settings, key: SeriesKey, now: pd.Timestamp, weeks: int = 4) -> None:
    """Hourly usage with a daily cycle up to the last complete hour."""
    index = pd.date_range(end=now.floor("h") - pd.Timedelta("1h"), periods=weeks * 7 * 24, freq="h")
    rng = np.random.default_rng(abs(hash(str(key))) % 2**32)
    hours = np.arange(len(index))
    values = 40 + 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.5, len(index))
    points = [
        {"measurement": key.measurement, "tags": key.tag_dict, "time": int(t.value), "fields": {key.field: v}}
        for t, v in zip(index, values.tolist(), strict=True)
    ]
    influx.write_points(influx.connect(settings.influxdb), settings.influxdb, points)


def forecast_at(settings: Settings, key: SeriesKey, when: pd.Timestamp) -> pd.Series:
    frame = influx.read_forecast(influx.connect(settings.influxdb), settings.influxdb, key)
    return frame.loc[when.floor("h")]


def write_recent(settings: Settings, key: SeriesKey, value: float) -> None:
    """Points every second over the last 20 s (all in buckets the forecast covers): the task's newest
    bucket then averages to about ``value``. Same timestamps each call, so a later call overwrites."""
    now = time.time_ns() // SEC * SEC
    points = [
        {
            "measurement": key.measurement,
            "tags": key.tag_dict,
            "time": now - i * SEC,
            "fields": {key.field: value},
        }
        for i in range(1, 21)
    ]
    influx.write_points(influx.connect(settings.influxdb), settings.influxdb, points)


@pytest.fixture
def deployment(tmp_path, influx_settings, kapacitor_settings):
    """A project directory with its config, and the wrapper venv-bootstrap writes for Kapacitor."""
    project = tmp_path / "capplan project"
    project.mkdir()
    store = project / "models"
    config = project / "capplan.toml"
    config.write_text(
        f"[influxdb]\nurl = {toml_string(influx_settings.url)}\n"
        f"database = {toml_string(influx_settings.database)}\n"
        '[kapacitor]\nevery = "1s"\n'  # as the tasks below run: the hook reads the bucket they judge
        f'[model]\nstore = {toml_string(str(store))}\nhistory = "28d"\nhorizon = "2d"\n'
        'retrain_window = "7d"\nlstm_epochs = 5\n'
    )
    wrapper = project / "bin" / "capplan-kapacitor-exec"
    run_bootstrap(project, wrapper, "--config", str(config)).check_returncode()
    settings = Settings(
        influxdb=influx_settings,
        kapacitor=KapacitorSettings(
            url=kapacitor_settings.url,
            exec_wrapper=str(wrapper),
            slack_channel="#capacity",
            task_prefix=f"e2e{influx_settings.database[-6:]}",
        ),
        model=ModelSettings(
            store=str(store), history="28d", horizon="2d", retrain_window="7d", lstm_epochs=5
        ),
        log=LogSettings(),
    )
    client = KapacitorClient(settings.kapacitor)
    yield settings, project, wrapper
    for task in alerts.status(client, settings.kapacitor.task_prefix):
        client.delete_task(task.id)


def retrain_log(settings: Settings) -> str:
    path = Path(settings.model.store) / "retrain.log"
    return path.read_text() if path.exists() else ""


def wait_log(settings: Settings, text: str, count: int = 1, timeout: float = 300.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if retrain_log(settings).count(text) >= count:
            return time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"{text!r} x{count} not logged after {timeout}s:\n{retrain_log(settings)}")


def wait_idle(settings: Settings, key: SeriesKey, timeout: float = 300.0) -> None:
    """Until no worker holds the series' lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fd = hook.try_lock(hook.lock_path(settings, key))
        if fd is not None:
            os.close(fd)
            return
        time.sleep(0.2)
    raise AssertionError(f"{key}: worker still running after {timeout}s")


def run_loop(deployment, slack, key: SeriesKey, grouped: bool, capsys) -> None:
    settings, _, wrapper = deployment
    write_history(settings, key, pd.Timestamp.now(tz="UTC"))
    trained = pipeline.train_series(settings, key)
    assert trained.version == 1 and trained.forecast_points > 0
    expected = forecast_at(settings, key, pd.Timestamp.now(tz="UTC"))

    client = KapacitorClient(settings.kapacitor)
    tasks = alerts.render(
        settings, settings.spec_for(key.measurement, key.field), [key], grouped=grouped, every="1s"
    )
    alerts.define(client, tasks)

    # Real points that follow the forecast: no alert, no retrain.
    write_recent(settings, key, float(expected["yhat"]))
    time.sleep(5)
    assert [t.executing for t in alerts.status(client, settings.kapacitor.task_prefix)] == [True]
    assert not [p for p in slack.posts if "CRITICAL" in json.dumps(p)]
    assert "handed to worker" not in retrain_log(settings)

    # Drift far outside the interval: Slack names the series, the hook retrains it.
    width = float(expected["yhat_upper"] - expected["yhat_lower"])
    drift_written = time.monotonic()
    write_recent(settings, key, float(expected["yhat_upper"]) + 5 * width)
    name = AWKWARD if grouped else str(key)
    assert slack.wait_for(lambda p: name in p["attachments"][0]["text"] and "CRITICAL" in json.dumps(p))
    done = wait_log(settings, f"{key}: retrain done")
    log = retrain_log(settings)
    [handed_ms] = [float(m) for m in re.findall(r"handed to worker \d+ in (\d+) ms", log)]
    assert ModelStore.for_series(settings).load(key)[1]["version"] == 2, log
    new = influx.read_forecast(influx.connect(settings.influxdb), settings.influxdb, key)
    assert new.index[0] >= pd.Timestamp.now(tz="UTC").floor("h")
    with capsys.disabled():
        print(
            f"\n{'grouped' if grouped else 'per-series'}: drift written -> new forecast stored "
            f"{done - drift_written:.1f} s; hook handle {handed_ms:.0f} ms"
        )
    wait_idle(settings, key)

    # A recovery (OK) retrains nothing; a burst of 20 CRITICALs about a newer bucket retrains once, even
    # when the retrain ends before the burst does (the lock file remembers the alert it served).
    args = ["group", key.measurement, key.field] if grouped else ["series", str(key)]

    def hook_run(level: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(wrapper), *args],
            stdin=subprocess.PIPE,
            text=True,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process.stdin.write(json.dumps(_alert(key, level)))
        process.stdin.close()
        return process

    assert hook_run("OK").wait(timeout=30) == 0
    assert f"{key}: OK alert e2e, no retrain" in retrain_log(settings)
    burst = [hook_run("CRITICAL") for _ in range(20)]
    assert [p.wait(timeout=60) for p in burst] == [0] * 20
    wait_log(settings, f"{key}: retrain done", count=2)
    wait_idle(settings, key)
    log = retrain_log(settings)
    assert log.count("handed to worker") == 2
    assert log.count(": already retrain") == 19
    assert log.count(f"{key}: retrain started") == 2


def _alert(key: SeriesKey, level: str) -> dict:
    """As Kapacitor sends it; the time is after the bucket of the drift alert already retrained for (the
    hour's start), and not in the future, which the hook refuses."""
    return {
        "id": "e2e",
        "message": "",
        "details": "",
        "time": (pd.Timestamp.now(tz="UTC").floor("h") + pd.Timedelta("1s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": 0,
        "level": level,
        "data": {
            "series": [{"name": key.measurement, "tags": key.tag_dict, "columns": ["time"], "values": []}]
        },
        "previousLevel": "CRITICAL",
        "recoverable": True,
    }


def test_per_series_loop(deployment, slack, capsys):
    key = SeriesKey.of("cpu", "usage_user", {"host": AWKWARD, "cpu": "cpu-total"})
    run_loop(deployment, slack, key, grouped=False, capsys=capsys)


def test_grouped_loop(deployment, slack, capsys):
    key = SeriesKey.of("mem", "used_percent", {"host": AWKWARD})
    run_loop(deployment, slack, key, grouped=True, capsys=capsys)
