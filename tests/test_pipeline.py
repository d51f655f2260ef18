"""Use-cases against the real InfluxDB: train writes a model version and a forecast; retrain keeps or
replaces it on evidence; failures leave the previous model and forecast intact."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capplan import influx, pipeline
from capplan.config import KapacitorSettings, ModelSettings, SeriesSpec, Settings, Threshold
from capplan.errors import CapplanError, DataError, InfluxError, StoreError
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore
from tests import servers

pytestmark = pytest.mark.servers

NOW = pd.Timestamp("2026-11-30 12:30", tz="UTC")
DISK = SeriesKey.of("disk", "used_percent", {"host": "db 1", "path": "/var/lib/o'brien"})
CPU = SeriesKey.of("cpu", "usage_user", {"host": "web,1", "cpu": "cpu-total"})


def _history(key: SeriesKey, values: np.ndarray, end: pd.Timestamp, settings) -> None:
    index = pd.date_range(end=end, periods=len(values), freq="h")
    points = [
        {
            "measurement": key.measurement,
            "tags": key.tag_dict,
            "time": int(t.value),
            "fields": {key.field: float(v)},
        }
        for t, v in zip(index, values, strict=True)
    ]
    influx.write_points(influx.connect(settings), settings, points)


def _disk_values(n: int, rng: np.random.Generator) -> np.ndarray:
    """Slow growth, a clean-up (a drop), then faster growth: the clean-up is the slope change to find."""
    t = np.arange(n)
    slope = np.where(t < n // 2, 0.01, 0.08)
    return 45 + np.cumsum(slope) - 8.0 * (t >= n // 2) + rng.normal(0, 0.02, n)


def _cpu_values(n: int, rng: np.random.Generator, offset: int = 0) -> np.ndarray:
    t = np.arange(offset, offset + n)
    return 30 + 12 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, n)


@pytest.fixture
def settings(influx_settings, tmp_path: Path) -> Settings:
    """Alerts every minute, as the drift-loop tests run them: Kapacitor judges the hour still filling."""
    return Settings(
        influxdb=influx_settings,
        kapacitor=KapacitorSettings(every="1m"),
        model=ModelSettings(store=str(tmp_path / "models"), history="21d", horizon="2d", retrain_window="7d"),
        series=(
            SeriesSpec("disk", "used_percent"),
            SeriesSpec("cpu", "usage_user", where={"cpu": "cpu-total"}),
        ),
        thresholds=(Threshold("disk", "used_percent", 75.0),),
    )


def test_train_discovers_fits_saves_and_writes_forecast_and_capacity(settings):
    rng = np.random.default_rng(0)
    last = NOW.floor("h") - pd.Timedelta("1h")
    _history(DISK, _disk_values(21 * 24, rng), last, settings.influxdb)
    _history(CPU, _cpu_values(21 * 24, rng), last, settings.influxdb)

    keys = pipeline.discover(settings).keys
    assert sorted(keys) == sorted([CPU, DISK])
    report = pipeline.for_each(keys, lambda k: pipeline.train_series(settings, k, now=NOW))
    assert not report.failures
    by_key = {r.key: r for r in report.results}
    assert by_key[DISK].version == 1 and by_key[CPU].version == 1
    assert 24 in by_key[CPU].periods

    client = influx.connect(settings.influxdb)
    forecast = influx.read_forecast(client, settings.influxdb, DISK)
    assert len(forecast) == 48
    assert forecast.index[0] == last + pd.Timedelta("1h")  # right after the last observation
    assert (forecast["yhat_lower"] <= forecast["yhat"]).all() and (
        forecast["yhat"] <= forecast["yhat_upper"]
    ).all()
    assert forecast["yhat"].iloc[-1] > forecast["yhat"].iloc[0]  # the disk keeps filling

    capacity = by_key[DISK].capacity
    assert capacity is not None and capacity.threshold == 75.0
    rows = list(client.query('SELECT * FROM "capacity_disk"').get_points())
    assert rows and rows[0]["path"] == "/var/lib/o'brien" and rows[0]["capplan_field"] == "used_percent"
    _, metadata = ModelStore.for_series(settings).load(DISK)
    assert metadata["capacity"]["threshold"] == 75.0


def _retrain_after_jump(settings, seed: int, hours_since_training: int) -> pipeline.RetrainResult:
    """Three weeks of CPU trained ``hours_since_training`` ago, then those hours 25 higher, then retrain."""
    rng = np.random.default_rng(seed)
    last = NOW.floor("h") - pd.Timedelta("1h")
    trained = pd.Timedelta(hours=hours_since_training)
    _history(CPU, _cpu_values(21 * 24, rng), last - trained, settings.influxdb)
    pipeline.train_series(settings, CPU, now=NOW - trained)
    _history(CPU, _cpu_values(hours_since_training, rng, offset=21 * 24) + 25, last, settings.influxdb)
    return pipeline.retrain(settings, CPU, now=NOW)


def test_a_series_that_stopped_reporting_days_ago_is_trained_with_a_warning(settings, caplog):
    """A dead host's history is real, but its forecast and time to threshold start days ago."""
    last = NOW.floor("h") - pd.Timedelta("3D")
    _history(DISK, _disk_values(21 * 24, np.random.default_rng(0)), last, settings.influxdb)
    _history(CPU, _cpu_values(21 * 24, np.random.default_rng(1)), NOW.floor("h"), settings.influxdb)
    pipeline.train_series(settings, DISK, now=NOW)
    pipeline.train_series(settings, CPU, now=NOW)
    stale = [r.getMessage() for r in caplog.records if "newest data is" in r.getMessage()]
    assert stale == [
        f"{DISK}: newest data is 3 days 00:30:00 old ({last.isoformat()}); its forecast and "
        "time to threshold start there: check that it still reports"
    ]


def test_retrain_on_drift_saves_a_new_version_and_forecast(settings):
    # The last day jumps up by 25: the stored forecast drifted, an update on recent data must beat it.
    result = _retrain_after_jump(settings, seed=1, hours_since_training=24)
    last = NOW.floor("h") - pd.Timedelta("1h")
    assert not result.kept_previous, result
    assert (result.version_before, result.version_after) == (1, 2)
    assert result.mae_after < result.mae_before
    forecast = influx.read_forecast(influx.connect(settings.influxdb), settings.influxdb, CPU)
    new_run = forecast.loc[last + pd.Timedelta("1h") :]
    assert len(new_run) == 48 and new_run.index[-1] == last + pd.Timedelta("48h")
    assert new_run["yhat"].mean() > 45  # follows the jump (old level ~30)


def test_retrain_hours_after_training_still_compares_two_models(settings):
    """Trained 6 h ago, so the stored model saw most of the hold-out day: the update it is compared
    with must be the model as of the hold-out's start, not the stored model again."""
    result = _retrain_after_jump(settings, seed=3, hours_since_training=6)
    assert np.isfinite(result.mae_before) and np.isfinite(result.mae_after)
    assert result.mae_after != result.mae_before, result


def test_hourly_retrains_follow_a_level_shift_within_hours(settings):
    """The loop as Kapacitor drives it: a deploy lifts CPU by 25 and each hour is judged against the
    published forecast, then retrained on. Before level shifts were found, every one of the 8 hours
    after the deploy was outside (and retrained on); now the forecast covers the new level from the
    fourth, and the fully trained version stays in the store."""
    rng = np.random.default_rng(7)
    trained = NOW.floor("h") - pd.Timedelta("1h")
    _history(CPU, _cpu_values(21 * 24, rng), trained, settings.influxdb)
    pipeline.train_series(settings, CPU, now=NOW)
    client = influx.connect(settings.influxdb)
    outside = []
    for hour in range(1, 9):
        when = trained + pd.Timedelta(hours=hour)
        value = _cpu_values(1, rng, offset=21 * 24 + hour - 1)[0] + 25
        row = influx.read_forecast(client, settings.influxdb, CPU).loc[when]
        outside.append(not row["yhat_lower"] <= value <= row["yhat_upper"])
        _history(CPU, np.array([value]), when, settings.influxdb)
        pipeline.retrain(settings, CPU, now=when + pd.Timedelta("30min"))
    assert outside[:3] == [True] * 3 and not any(outside[3:]), str(outside)
    _, metadata = ModelStore.for_series(settings, CPU).load(CPU)
    [shift] = metadata["level_shifts"]
    assert pd.Timestamp(shift["at"]) == trained + pd.Timedelta("1h")
    assert shift["size"] == pytest.approx(25, abs=3)
    assert ModelStore.for_series(settings, CPU).versions(CPU)[0].made_by == "train"


def test_retrain_without_new_data_keeps_the_version_and_says_why(settings):
    """Five retrains with nothing new used to save five versions, pruning the trained one."""
    first = _retrain_after_jump(settings, seed=1, hours_since_training=24)
    again = [pipeline.retrain(settings, CPU, now=NOW) for _ in range(2)]
    assert all(r.kept_previous and r.version_after == first.version_after for r in again)
    assert "no data newer than the model's last observation" in again[-1].why_kept
    assert [v.version for v in ModelStore.for_series(settings, CPU).versions(CPU)] == [1, first.version_after]


def test_retrain_learns_the_bucket_still_filling_that_kapacitor_alerted_on(settings):
    """Kapacitor judges the newest, half-filled bucket and alerts once; a retrain reading only complete
    buckets had nothing new and never learned the drift."""
    last = NOW.floor("h") - pd.Timedelta("1h")
    _history(CPU, _cpu_values(21 * 24, np.random.default_rng(5)), last, settings.influxdb)
    pipeline.train_series(settings, CPU, now=NOW)
    _history(CPU, np.array([90.0]), NOW.floor("h") + pd.Timedelta("10min"), settings.influxdb)
    result = pipeline.retrain(settings, CPU, now=NOW)
    assert not result.kept_previous and result.version_after == 2, result
    _, metadata = ModelStore.for_series(settings, CPU).load(CPU)
    assert pd.Timestamp(metadata["data"]["last"]) == NOW.floor("h")


def test_under_the_default_schedule_a_retrain_reads_complete_buckets_only(settings):
    """Kapacitor judged the hour that just ended; the seconds of the new one are not data to learn, and a
    capacity answer stamped in that hour hid the next train's (real-server review)."""
    hourly = dataclasses.replace(settings, kapacitor=KapacitorSettings())
    last = NOW.floor("h") - pd.Timedelta("1h")
    _history(CPU, _cpu_values(21 * 24, np.random.default_rng(5)), last, settings.influxdb)
    pipeline.train_series(hourly, CPU, now=NOW)
    _history(CPU, np.array([90.0]), NOW.floor("h") + pd.Timedelta("10min"), settings.influxdb)
    result = pipeline.retrain(hourly, CPU, now=NOW)
    assert result.kept_previous and "no data newer" in result.why_kept
    assert not pipeline.retrain(settings, CPU, now=NOW).kept_previous  # every 1m: that bucket was judged


def test_retrain_keeps_the_version_when_only_an_expected_point_arrived_in_the_filling_bucket(settings):
    """A retrain right after train, with Telegraf still writing into the current hour, saved a version
    per call and pushed the trained one out of the store (real-server review)."""
    last = NOW.floor("h") - pd.Timedelta("1h")
    _history(CPU, _cpu_values(21 * 24, np.random.default_rng(5)), last, settings.influxdb)
    pipeline.train_series(settings, CPU, now=NOW)
    expected = influx.read_forecast(influx.connect(settings.influxdb), settings.influxdb, CPU)
    value = float(expected.loc[NOW.floor("h"), "yhat"])
    _history(CPU, np.array([value]), NOW.floor("h") + pd.Timedelta("10min"), settings.influxdb)
    result = pipeline.retrain(settings, CPU, now=NOW)
    assert result.kept_previous and result.version_after == 1, result
    assert "inside the forecast's interval" in result.why_kept


def test_a_refresh_counts_capacity_from_the_models_last_observation(settings):
    """After a retrain learned the filling hour, a refresh (complete hours only) counted the crossing
    from an hour earlier, so its capacity point disagreed with the retrain's (real-server review)."""
    last = NOW.floor("h") - pd.Timedelta("1h")
    _history(DISK, _disk_values(21 * 24, np.random.default_rng(2)), last, settings.influxdb)
    pipeline.train_series(settings, DISK, now=NOW)
    _history(DISK, np.array([95.0]), NOW.floor("h") + pd.Timedelta("10min"), settings.influxdb)
    assert not pipeline.retrain(settings, DISK, now=NOW).kept_previous
    pipeline.refresh_forecast(settings, DISK, now=NOW)
    published = ModelStore.for_series(settings).published_capacity(DISK)
    assert pd.Timestamp(published["origin"]) == NOW.floor("h")


def test_retrain_that_validates_worse_keeps_the_previous_model_and_forecast(settings):
    """A transient ramp just before the hold-out day misleads the update; the hold-out day is back on the
    old line, so the stored model's forecast wins and nothing is replaced."""
    last = NOW.floor("h") - pd.Timedelta("1h")
    trained_until = last - pd.Timedelta("7D")
    base = 50 + 0.05 * np.arange(28 * 24)
    _history(DISK, base[: 21 * 24], trained_until, settings.influxdb)
    pipeline.train_series(settings, DISK, now=trained_until + pd.Timedelta("1h"))
    client = influx.connect(settings.influxdb)
    forecast_before = influx.read_forecast(client, settings.influxdb, DISK)
    recent = base[21 * 24 :].copy()
    recent[-60:-24] += np.linspace(0, 20, 36)  # a burst of writes, cleaned up before the last day
    _history(DISK, recent, last, settings.influxdb)
    result = pipeline.retrain(settings, DISK, now=NOW)
    assert result.kept_previous and result.mae_after > result.mae_before, result
    assert (result.version_before, result.version_after, result.forecast_points) == (1, 1, 0)
    assert ModelStore.for_series(settings, DISK).load(DISK)[1]["version"] == 1
    pd.testing.assert_frame_equal(influx.read_forecast(client, settings.influxdb, DISK), forecast_before)


def test_retrain_unknown_series_is_a_store_error(settings):
    ghost = SeriesKey.of("cpu", "usage_user", {"host": "ghost"})
    for run in (pipeline.retrain, pipeline.refresh_forecast):
        with pytest.raises(StoreError, match="run `capplan train` first"):
            run(settings, ghost, now=NOW)
    assert not list(Path(settings.model.store).glob("*"))  # a mistyped key leaves no directory behind


def test_the_final_error_line_gives_a_few_reasons_and_points_to_the_log():
    keys = [SeriesKey.of("cpu", "usage_user", {"host": f"h{i}"}) for i in range(5)]
    report = pipeline.FleetReport(failures={k: "InfluxDB timed out" for k in keys})
    with pytest.raises(CapplanError) as info:
        report.raise_if_incomplete()
    assert str(info.value).count("InfluxDB timed out") == 3 and "2 more in the log" in str(info.value)


def test_a_refresh_waits_for_a_retrain_holding_the_series(settings):
    """Without the lock, a refresh could publish the older version's forecast over a retrain's."""
    import threading

    rng = np.random.default_rng(0)
    _history(CPU, _cpu_values(21 * 24, rng), NOW.floor("h") - pd.Timedelta("1h"), settings.influxdb)
    pipeline.train_series(settings, CPU, now=NOW)
    store = ModelStore.for_series(settings, CPU)
    held, release, order = threading.Event(), threading.Event(), []

    def retrain_stand_in():
        with store.lock(CPU):
            held.set()
            release.wait(30)
            order.append("retrain saved")

    holder = threading.Thread(target=retrain_stand_in)
    holder.start()
    held.wait(30)
    refresher = threading.Thread(
        target=lambda: order.append(("refreshed", pipeline.refresh_forecast(settings, CPU, now=NOW)))
    )
    refresher.start()
    refresher.join(2)
    assert refresher.is_alive() and order == []  # waiting for the lock
    release.set()
    holder.join(30)
    refresher.join(60)
    assert order[0] == "retrain saved" and order[1][0] == "refreshed"


def test_a_file_system_error_in_one_series_does_not_stop_the_others():
    """A read-only store file used to end a whole `capplan forecast` run after its first series."""

    def action(key: SeriesKey) -> str:
        if key == CPU:
            raise OSError(30, "Read-only file system", "/models/cpu/capacity.json")
        return str(key)

    report = pipeline.for_each([CPU, DISK], action)
    assert report.results == [str(DISK)] and "Read-only file system" in report.failures[CPU]


def test_a_hung_influxdb_is_waited_for_once_not_once_per_series(tmp_path):
    """A stopped (SIGSTOP) InfluxDB answers nothing: each series waited its whole timeout, 7 minutes
    for 14 series. After the first, the others are reported as not tried."""
    import signal

    server = servers.start_influxdb(tmp_path / "private")
    settings = Settings(
        influxdb=dataclasses.replace(Settings().influxdb, url=server.url, database="db", timeout=1),
        model=ModelSettings(store=str(tmp_path / "models"), history="21d", horizon="1d"),
        series=(SeriesSpec("disk", "used_percent"),),
    )
    tried = []

    def train(key: SeriesKey):
        tried.append(key)
        return pipeline.train_series(settings, key, now=NOW)

    influx.connect(settings.influxdb).create_database("db")
    server.process.send_signal(signal.SIGSTOP)
    stat = Path(f"/proc/{server.process.pid}/stat")
    for _ in range(100):  # the signal is delivered asynchronously
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "T":
            break
        time.sleep(0.05)
    third = SeriesKey.of("disk", "used_percent", {"host": "db 3", "path": "/"})
    try:
        report = pipeline.for_each([CPU, DISK, third], train)
    finally:
        server.process.send_signal(signal.SIGCONT)
        server.stop()
    # One heavy query may time out alone: a second timeout in a row is taken for the server.
    assert tried == [CPU, DISK] and report.results == []
    assert "did not answer" in report.failures[CPU] and "raise it for heavy queries" in report.failures[CPU]
    assert report.failures[third].startswith("not tried: InfluxDB at")


def test_one_timeout_alone_stops_no_other_series_but_no_connection_does():
    from capplan.errors import InfluxTimeout, InfluxUnreachable

    def action(key: SeriesKey) -> str:
        if key == CPU:
            raise InfluxTimeout("InfluxDB did not answer within influxdb.timeout")
        return str(key)

    assert pipeline.for_each([CPU, DISK], action).results == [str(DISK)]

    def refused(key: SeriesKey) -> str:
        raise InfluxUnreachable("InfluxDB unreachable")

    report = pipeline.for_each([CPU, DISK], refused)
    assert report.failures[DISK] == "not tried: InfluxDB unreachable"


def test_influxdb_down_keeps_model_and_forecast(tmp_path):
    root = tmp_path / "private"
    server = servers.start_influxdb(root)
    try:
        base = Settings(
            influxdb=dataclasses.replace(Settings().influxdb, url=server.url, database="db"),
            model=ModelSettings(store=str(tmp_path / "models"), history="21d", horizon="1d"),
            series=(SeriesSpec("disk", "used_percent"),),
        )
        influx.connect(base.influxdb).create_database("db")
        last = NOW.floor("h") - pd.Timedelta("1h")
        _history(DISK, _disk_values(21 * 24, np.random.default_rng(2)), last, base.influxdb)
        pipeline.train_series(base, DISK, now=NOW)
        before = influx.read_forecast(influx.connect(base.influxdb), base.influxdb, DISK)
    finally:
        server.stop()
    with pytest.raises(InfluxError, match=f"InfluxDB unreachable at {server.url}"):
        pipeline.retrain(base, DISK, now=NOW)
    path, metadata = ModelStore.for_series(base).load(DISK)
    assert metadata["version"] == 1 and path.is_dir()
    server = servers.start_influxdb(root)  # same data directory, new port
    try:
        again = dataclasses.replace(base.influxdb, url=server.url)
        pd.testing.assert_frame_equal(influx.read_forecast(influx.connect(again), again, DISK), before)
    finally:
        server.stop()


def test_a_forecast_that_cannot_be_written_leaves_no_newer_model(tmp_path, monkeypatch):
    """InfluxDB goes down between the fit and the forecast's write: the version saved for it is
    discarded, so ``status`` does not show a model whose forecast Kapacitor never got."""
    server = servers.start_influxdb(tmp_path / "private")
    base = Settings(
        influxdb=dataclasses.replace(Settings().influxdb, url=server.url, database="db", timeout=2),
        model=ModelSettings(store=str(tmp_path / "models"), history="21d", horizon="1d"),
        series=(SeriesSpec("disk", "used_percent"),),
    )
    write_forecast = influx.write_forecast

    def server_gone(*args, **kwargs):
        server.stop()
        return write_forecast(*args, **kwargs)

    try:
        influx.connect(base.influxdb).create_database("db")
        _history(DISK, _disk_values(21 * 24, np.random.default_rng(2)), NOW.floor("h"), base.influxdb)
        store = ModelStore.for_series(base)
        other = SeriesKey.of("disk", "used_percent", {"host": "db 2", "path": "/"})
        _history(other, _disk_values(21 * 24, np.random.default_rng(3)), NOW.floor("h"), base.influxdb)
        pipeline.train_series(base, other, now=NOW)
        monkeypatch.setattr(influx, "write_forecast", server_gone)
        with pytest.raises(InfluxError):
            pipeline.train_series(base, DISK, now=NOW)
        assert not store.stored(DISK)  # a first train: nothing at all
        server = servers.start_influxdb(tmp_path / "private")
        base = dataclasses.replace(base, influxdb=dataclasses.replace(base.influxdb, url=server.url))
        _history(other, np.array([90.0]), NOW.floor("h") + pd.Timedelta("1h"), base.influxdb)  # a new hour
        with pytest.raises(InfluxError):
            pipeline.retrain(base, other, now=NOW + pd.Timedelta("2h"))
        assert [v.version for v in store.versions(other)] == [1] and store.current(other) == 1
        # Written, the forecast belongs to the new version: a later failure (the capacity answer) keeps it.
        monkeypatch.setattr(influx, "write_forecast", write_forecast)
        server = servers.start_influxdb(tmp_path / "private")  # server_gone stopped the second one
        base = dataclasses.replace(base, influxdb=dataclasses.replace(base.influxdb, url=server.url))

        def capacity_fails(*args):
            raise InfluxError("capacity write failed")

        monkeypatch.setattr(pipeline, "_publish_capacity", capacity_fails)
        with pytest.raises(InfluxError, match="capacity write failed"):
            pipeline.retrain(base, other, now=NOW + pd.Timedelta("2h"))
        assert store.current(other) == 2
    finally:
        server.stop()


def test_a_store_it_cannot_write_to_is_refused_before_reading_or_fitting(tmp_path):
    """A read-only store failed only at the save, after minutes of fitting (real-server review)."""
    blocker = tmp_path / "a file"
    blocker.write_text("")
    settings = Settings(
        influxdb=dataclasses.replace(Settings().influxdb, url="http://127.0.0.1:9", timeout=1),
        model=ModelSettings(store=str(blocker / "models")),
        series=(SeriesSpec("disk", "used_percent"),),
    )
    with pytest.raises(StoreError, match=r"cannot write to the model store .* fix its permissions"):
        pipeline.train_series(settings, DISK, now=NOW)


def client_rows(settings, measurement: str) -> list[dict]:
    query = f'SELECT * FROM "{measurement}"'
    return list(influx.connect(settings.influxdb).query(query).get_points())


def test_cli_train_status_forecast_and_plot_against_influxdb(settings, tmp_path):
    """The operator's day through the CLI: train, status, refresh the forecast, plot."""
    from click.testing import CliRunner

    from capplan.cli import cli

    rng = np.random.default_rng(3)
    last = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta("1h")
    _history(DISK, _disk_values(21 * 24, rng), last, settings.influxdb)
    config = tmp_path / "capplan.toml"
    config.write_text(
        f"""
[influxdb]
url = "{settings.influxdb.url}"
database = "{settings.influxdb.database}"
[model]
store = "{settings.model.store}"
history = "21d"
horizon = "2d"
[[series]]
measurement = "disk"
field = "used_percent"
[[thresholds]]
measurement = "disk"
field = "used_percent"
value = 62
"""
    )
    runner = CliRunner()
    trained = runner.invoke(cli, ["--config", str(config), "train", "--json"])
    assert trained.exit_code == 0, trained.output
    assert '"model": "linear"' in trained.output and '"failed": {}' in trained.output

    status = runner.invoke(cli, ["--config", str(config), "status", "--json"])
    rows = __import__("json").loads(status.output)
    assert (
        rows[0]["series"] == str(DISK)
        and rows[0]["version"] == 1
        and rows[0]["days_to_threshold"] is not None
    )

    refreshed = runner.invoke(cli, ["--config", str(config), "forecast"])
    assert refreshed.exit_code == 0, refreshed.output
    assert f"{DISK}: 48 forecast points written" in refreshed.output
    # status shows the answer of the forecast now in InfluxDB, which the refresh rewrote
    published = ModelStore.for_series(settings).published_capacity(DISK)
    stored = [r for r in client_rows(settings, "capacity_disk")][-1]
    assert published["seconds_to_threshold"] == stored["seconds_to_threshold"]
    after = json.loads(runner.invoke(cli, ["--config", str(config), "status", "--json"]).output)
    assert after[0]["threshold"] == 62.0

    png = tmp_path / "disk.png"
    drawn = runner.invoke(cli, ["--config", str(config), "plot", str(DISK), "-o", str(png)])
    assert drawn.exit_code == 0, drawn.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    for bad, why in (("disk.txt", "give a .png, .svg, .pdf file name"), ("no/disk.png", "does not exist")):
        refused = runner.invoke(cli, ["--config", str(config), "plot", str(DISK), "-o", str(tmp_path / bad)])
        assert (
            refused.exit_code == 2 and why in refused.output
        )  # was a matplotlib traceback / a new directory
    assert not (tmp_path / "no").exists()

    missing = runner.invoke(cli, ["--config", str(config), "retrain", "disk,host=ghost used_percent"])
    assert missing.exit_code == 5 and "run `capplan train` first" in missing.output


def test_a_series_tagged_like_capplan_is_refused_before_a_model_is_saved(settings):
    key = SeriesKey.of("cpu", "usage_user", {"host": "a", "capplan_field": "x"})
    with pytest.raises(DataError, match="rename the tag"):
        pipeline.train_series(settings, key, now=NOW)
    assert ModelStore.for_series(settings).list() == []


def test_a_series_spec_that_matches_nothing_is_named_in_a_warning(settings, caplog):
    """A typo in a measurement or field name trained the other series and said nothing about it."""
    rng = np.random.default_rng(0)
    _history(DISK, _disk_values(3 * 24, rng), NOW.floor("h") - pd.Timedelta("1h"), settings.influxdb)
    typo = dataclasses.replace(settings, series=(*settings.series, SeriesSpec("dsik", "used_percent")))
    with caplog.at_level("WARNING", logger="capplan.pipeline"):
        found = pipeline.discover(typo)
    assert found.keys == [DISK]
    assert found.unmatched == ["[[series]] cpu usage_user", "[[series]] dsik used_percent"]
    report = pipeline.for_each(found.keys, str, unmatched=found.unmatched)
    with pytest.raises(
        CapplanError, match=r"\[\[series\]\] cpu usage_user, \[\[series\]\] dsik used_percent matched no"
    ):
        report.raise_if_incomplete()  # after the others ran: exit non-zero, so cron notices
    named = [r.getMessage() for r in caplog.records if "no series with data" in r.getMessage()]
    assert any(m.startswith("[[series]] dsik used_percent:") for m in named)
    assert any(m.startswith("[[series]] cpu usage_user where {'cpu': 'cpu-total'}:") for m in named)


def test_train_with_a_local_clock_publishes_office_hours_at_their_utc_times_after_dst(settings):
    """model.timezone: trained the day after the autumn change on three weeks of summer time, the
    published forecast is busy from 08:00 UTC (09:00 CET), not from 07:00 as the weeks before."""
    settings = dataclasses.replace(
        settings, model=dataclasses.replace(settings.model, timezone="Europe/Berlin")
    )
    now = pd.Timestamp("2026-10-27 00:30", tz="UTC")  # DST ended 2026-10-25 01:00 UTC
    last = now.floor("h") - pd.Timedelta("1h")
    index = pd.date_range(end=last, periods=21 * 24, freq="h")
    local = index.tz_convert("Europe/Berlin")
    busy = (local.hour >= 9) & (local.hour < 17) & (local.day_of_week < 5)
    values = 20 + 50 * busy.astype(float) + np.random.default_rng(5).normal(0, 2, len(index))
    _history(CPU, values, last, settings.influxdb)
    pipeline.train_series(settings, CPU, now=now)
    forecast = influx.read_forecast(influx.connect(settings.influxdb), settings.influxdb, CPU)
    assert len(forecast) == 48 and (forecast.index.to_series().diff().dropna() == pd.Timedelta("1h")).all()
    tuesday = forecast.loc["2026-10-27", "yhat"]
    assert tuesday.index.hour[tuesday > 45].tolist() == list(range(8, 16))
    _, metadata = ModelStore.for_series(settings, CPU).load(CPU)
    assert metadata["timezone"] == "Europe/Berlin"
