"""The CLI as a user meets it: help everywhere, clear one-line errors, configuration precedence."""

from __future__ import annotations

import json

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from capplan import __version__
from capplan.cli import cli
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_has_help_text():
    runner = CliRunner()
    for path, command in _commands(cli):
        assert command.help, f"capplan {' '.join(path)} has no help text"
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "capplan.toml"
    bad.write_text("[influxdb]\ntimeout = 'soon'\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "doctor", "--offline"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["Error: influxdb.timeout: expected a number, got 'soon'"]


def test_doctor_json_gives_a_bad_config_as_json_with_the_same_exit(tmp_path):
    """Scripts reading `doctor --json` got a plain-text line they could not parse."""
    bad = tmp_path / "capplan.toml"
    bad.write_text("[influxdb]\ntimeout = 'soon'\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "doctor", "--offline", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output) == [
        {"name": "configuration", "ok": False, "detail": "influxdb.timeout: expected a number, got 'soon'"}
    ]


def test_doctor_without_any_series_says_so_instead_of_all_configured(tmp_path):
    """Three stored series and no [[series]] at all were reported "all configured"."""
    for measurement in ("cpu", "mem"):
        ModelStore(tmp_path).save(SeriesKey.of(measurement, "used", {"host": "a"}), lambda d: {})
    result = CliRunner().invoke(cli, ["--store", str(tmp_path), "doctor", "--offline"])
    assert (
        "ok  stored series: no [[series]] configured, so the 2 stored series are not checked" in result.output
    )
    assert "all configured" not in result.output


def test_doctor_refuses_an_alert_setting_alerts_define_would_refuse(tmp_path):
    config = tmp_path / "capplan.toml"
    config.write_text("[kapacitor]\nevery = '0s'\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor", "--offline"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: kapacitor.every: '0s' is not a positive TICKscript duration like 10s, 5m or 1h\n"
    )


def test_doctor_fails_without_the_exec_wrapper_alerts_need(tmp_path):
    result = CliRunner().invoke(cli, ["--store", str(tmp_path), "doctor", "--offline"])
    assert result.exit_code == 1
    assert "FAIL exec wrapper: not set, so `capplan alerts render|define` refuse" in result.output


def test_unusable_log_file_is_one_line_naming_it(tmp_path):
    log_file = tmp_path / "missing-dir" / "capplan.log"
    result = CliRunner().invoke(cli, ["doctor", "--offline"], env={"CAPPLAN_LOG_FILE": str(log_file)})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot use {log_file}: No such file or directory; check the path and its permissions"
    ]


def test_unreachable_servers_each_get_a_line_and_nonzero_exit(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "--influx-url",
            "http://127.0.0.1:9",
            "--kapacitor-url",
            "http://127.0.0.1:9",
            "--store",
            str(tmp_path),
            "doctor",
        ],
    )
    assert result.exit_code == 1
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 3  # the unset exec wrapper, then each server
    assert "InfluxDB unreachable at http://127.0.0.1:9" in fails[1]
    assert "Kapacitor unreachable at http://127.0.0.1:9" in fails[2]


def test_malformed_series_argument_names_the_format(tmp_path):
    result = CliRunner().invoke(cli, ["--store", str(tmp_path), "models", "show", "no-field-here"])
    assert result.exit_code == 2
    assert "is not 'measurement[,tag=value...] field'" in result.output


def test_a_series_named_by_some_of_its_tags_means_the_one_stored_series_that_has_them(tmp_path):
    """The README's 'disk,host=db1,path=/ used_percent' form: Telegraf's stored key also carries
    device, fstype and mode, and the exact key told the user to run `capplan train` again."""
    import json

    from capplan.serieskey import SeriesKey
    from capplan.store import ModelStore

    tags = {"host": "db1", "path": "/", "device": "sda1", "fstype": "ext4", "mode": "rw"}
    root = SeriesKey.of("disk", "used_percent", tags)
    data = SeriesKey.of("disk", "used_percent", tags | {"path": "/data", "device": "sdb1"})
    store = ModelStore(tmp_path)
    for key in (root, data):
        store.save(key, lambda d: {"model": {"id": "linear"}})
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["--store", str(tmp_path), "models", "show", "disk,host=db1,path=/ used_percent"]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["series"] == str(root)
    both = runner.invoke(cli, ["--store", str(tmp_path), "models", "show", "disk,host=db1 used_percent"])
    assert both.exit_code == 2 and "matches 2 stored series, name more tags" in both.output
    assert str(root) in both.output and str(data) in both.output


def test_models_show_gives_the_band_the_forecast_publishes(tmp_path):
    """The demo's disk: too few backtest origins inside the line's segment, so the published band is the
    regression interval, about +-0.1; models show gave the stored offsets, +-0.0001 (the data's
    resolution), which now hold the regression interval too."""
    import json

    from capplan import engine, sample_data
    from capplan.serieskey import SeriesKey
    from capplan.store import ModelStore

    key = SeriesKey.of("disk", "used_percent", {"host": "db-01"})
    model = engine.fit(sample_data.filling_disk(), 168, name=str(key))
    ModelStore(tmp_path).save(key, model.save)
    shown = CliRunner().invoke(cli, ["--store", str(tmp_path), "models", "show", str(key)])
    interval = json.loads(shown.output)["interval"]
    frame = model.forecast().frame
    assert interval["band"]["upper"] == pytest.approx((frame.yhat_upper - frame.yhat).tolist())
    assert interval["band"]["lower"] == pytest.approx((frame.yhat_lower - frame.yhat).tolist())
    assert interval["band"]["upper"][0] > 0.05
    assert interval["upper"][0] == pytest.approx(interval["band"]["upper"][0])
    assert interval["source"] == "regression interval of the linear segment"


@pytest.mark.parametrize("damage", ["{trunc", "[]", "null", '{"series": "cpu,host=b usage_user"}'])
def test_one_damaged_model_does_not_hide_the_others_from_status_and_models_list(tmp_path, damage):
    import json

    from capplan.serieskey import SeriesKey
    from capplan.store import ModelStore

    good, bad = (
        SeriesKey.of("cpu", "usage_user", {"host": "a"}),
        SeriesKey.of("cpu", "usage_user", {"host": "b"}),
    )
    store = ModelStore(tmp_path)
    meta = {
        "model": {"id": "profile"},
        "validation": {"mase": 0.5},
    }
    for key in (good, bad, bad):  # bad's v1 still names it; v2, the current one, is damaged
        store.save(key, lambda d: dict(meta))
    path = store.load(bad)[0]
    (path / "metadata.json").write_text(damage)
    runner = CliRunner()
    status = runner.invoke(cli, ["--store", str(tmp_path), "status", "--json"])
    assert status.exit_code == 0, status.output
    rows = {r["series"]: r for r in json.loads(status.output[status.output.index("[") :])}
    assert rows[str(good)]["model"] == "profile" and rows[str(bad)]["model"] == "UNREADABLE"
    listed = runner.invoke(cli, ["--store", str(tmp_path), "models", "list"])
    assert listed.exit_code == 0 and f"UNREADABLE: {path}" in listed.output


def test_status_counts_days_to_the_threshold_from_now_and_says_when_it_is_not_reached():
    import pandas as pd

    from capplan.cli.fleet import _capacity_columns

    two_days_ago = (pd.Timestamp.now(tz="UTC") - pd.Timedelta("2D")).isoformat()
    reached = {
        "threshold": 90.0,
        "seconds_to_threshold": 5 * 86400,
        "origin": two_days_ago,
        "horizon_seconds": 7 * 86400,
    }
    columns = _capacity_columns(reached)
    assert columns["days_to_threshold"] == 3.0 and columns["threshold"].startswith("90 on ")
    beyond = reached | {"seconds_to_threshold": -1}
    assert _capacity_columns(beyond)["days_to_threshold"] is None
    assert "90 not reached by" in _capacity_columns(beyond)["threshold"]
    assert _capacity_columns(None) == {"days_to_threshold": None, "threshold": None}
    as_json = _capacity_columns(reached, as_json=True)
    assert as_json["threshold"] == 90.0 and as_json["days_to_threshold"] == 3.0
    assert pd.Timestamp(as_json["reached"]) == pd.Timestamp(two_days_ago) + pd.Timedelta("5D")
    assert as_json["reached"].endswith("+00:00")
    assert _capacity_columns(beyond, as_json=True)["reached"] is None


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`capplan status | head -1` printed "Error: cannot use: Broken pipe"."""
    import subprocess
    import sys

    code = (
        "import sys; from capplan.cli import cli; import click\n"
        "@cli.command('flood')\n"
        "def flood():\n"
        "    '''Print a lot.'''\n"
        "    for _ in range(100000): click.echo('x' * 80)\n"
        "cli(['--store', sys.argv[1], 'flood'])\n"
    )
    done = subprocess.run(
        f'{sys.executable} -c "{code}" {tmp_path} | head -1',
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "x" * 80 + "\n" and "Error" not in done.stderr, done.stderr


@pytest.mark.servers
def test_plot_tells_a_series_that_does_not_exist_from_one_not_trained_yet(tmp_path, influx_settings):
    """A typo in a tag value was told "no forecast in pred_disk; run `capplan train` first"."""
    from capplan import influx

    now = pd.Timestamp.now(tz="UTC")
    point = {
        "measurement": "disk",
        "tags": {"host": "db1"},
        "time": now.value,
        "fields": {"used_percent": 5.0},
    }
    influx.write_points(influx.connect(influx_settings), influx_settings, [point])
    config = tmp_path / "capplan.toml"
    config.write_text(
        f'[influxdb]\nurl = "{influx_settings.url}"\ndatabase = "{influx_settings.database}"\n'
        f'[model]\nstore = "{tmp_path / "models"}"\n'
    )

    def plot(series: str) -> str:
        result = CliRunner().invoke(
            cli, ["--config", str(config), "plot", series, "-o", str(tmp_path / "x.png")]
        )
        assert result.exit_code == 1, result.output
        return result.output

    assert plot("disk,host=nosuch used_percent") == (
        "Error: disk,host=nosuch used_percent: not a known series (no stored model, no data in the last "
        "28d); `capplan status` lists the series capplan knows\n"
    )
    assert plot("disk,host=db1 used_percent") == (
        "Error: disk,host=db1 used_percent: no forecast in pred_disk; run `capplan train` first\n"
    )
    assert not (tmp_path / "x.png").exists()
