"""CSV commands, invoked directly (the main group registers them)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from click.testing import CliRunner

from capplan.cli.common import App
from capplan.cli.forecast import explain_command, forecast_command
from capplan.config import Settings
from capplan.errors import CapplanError, DataError

APP = App(Settings())


def write_csv(path, n: int = 600) -> pd.Series:
    t = np.arange(n)
    index = pd.date_range("2024-05-01", periods=n, freq="1h", tz="UTC")
    s = pd.Series(
        20 + 4 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.5, n), index=index
    )
    pd.DataFrame({"ts": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "cpu": s.to_numpy(), "host": "a"}).to_csv(
        path, index=False
    )
    return s


def test_forecast_writes_iso_utc_csv_and_prints_the_model(tmp_path):
    series = write_csv(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    args += ["--horizon", "48", "--output", str(out), "--seed", "3"]
    result = CliRunner().invoke(forecast_command, args, obj=APP)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time", "yhat", "yhat_lower", "yhat_upper"]
    assert len(frame) == 48
    assert frame.time.iloc[0] == (series.index[-1] + pd.Timedelta("1h")).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "cpu:" in result.output and "backtest MASE" in result.output
    again = tmp_path / "again.csv"
    CliRunner().invoke(forecast_command, [*args[:-4], "--output", str(again), "--seed", "3"], obj=APP)
    assert again.read_text() == out.read_text()


def test_explain_json(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    result = CliRunner().invoke(explain_command, [*args, "--horizon", "24", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["classification"]["periods"] == [24]
    assert info["model"] in info["scores"]
    text = CliRunner().invoke(explain_command, [*args, "--horizon", "24"])
    assert "classification: seasonal" in text.output and "why:" in text.output


def test_explain_prints_the_acf_correlation_once(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    text = CliRunner().invoke(explain_command, [*args, "--horizon", "24"]).output
    assert "classification: seasonal" in text and len(re.findall(r"\br=", text)) == 1


def test_explain_gives_the_step_and_periods_as_durations(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    text = CliRunner().invoke(explain_command, [*args, "--horizon", "24h", "--step", "2h"]).output
    assert "step 2h; horizon 12 steps = 1d" in text
    assert "periods 12 steps = 1d;" in text


def test_explain_shows_the_interval_the_line_gaps_and_shifts(tmp_path):
    """A filling disk with a night's outage: what a user needs to judge the forecast besides scores."""
    from capplan import sample_data

    disk = sample_data.filling_disk()
    disk.drop(disk.index[-40:-30]).rename_axis("time").to_csv(tmp_path / "disk.csv")
    args = ["--input", str(tmp_path / "disk.csv"), "--horizon", "7d"]
    text = CliRunner().invoke(explain_command, args).output
    assert "interval:       95% from the regression interval of the linear segment: -0.1" in text
    assert "at step 168" in text
    assert re.search(r"segment: +line over the last \d+ steps = \d+d(\d+h)? \(since 2026-1\d-\d\dT", text)
    assert "slope +2 a day" in text
    assert "gaps:           10 missing steps filled (10 with the previous day's shape)" in text
    assert "level shifts:   none found" in text
    info = json.loads(CliRunner().invoke(explain_command, [*args, "--json"]).output)
    assert info["interval"]["source"] == "regression interval of the linear segment"
    assert info["linear_segment"]["steps"] > 0 and info["level_shifts"] == [] and info["bridged"] == 10


def test_bad_column_is_a_data_error(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "nope"]
    result = CliRunner().invoke(forecast_command, [*args, "--output", str(tmp_path / "o.csv")], obj=APP)
    assert isinstance(result.exception, DataError)
    assert "no value column 'nope'" in str(result.exception) and "cpu" in str(result.exception)


def test_a_column_mix_up_names_the_column_given_wrong(tmp_path):
    """--value-column time said there was no column 'time'; --time-column value blamed a value column
    'time' the user never named."""
    text = "time,value\n" + "\n".join(_hourly_rows(400)) + "\n"
    same = _invoke_on(tmp_path, text, "--value-column", "time")
    assert str(same.exception).startswith("value column 'time' is also the time column (found by its name)")
    both = _invoke_on(tmp_path, text, "--value-column", "value", "--time-column", "value")
    assert str(both.exception).startswith("value column 'value' is also the time column; give different")
    swapped = _invoke_on(tmp_path, text, "--time-column", "value")
    assert str(swapped.exception).startswith("time column 'value' leaves 'time', named as times, to be the")
    missing = _invoke_on(tmp_path, text, "--value-column", "nope")
    assert "the columns besides the time column 'time' are ['value']" in str(missing.exception)


def test_header_only_csv_says_there_are_no_rows(tmp_path):
    (tmp_path / "empty.csv").write_text("time,value\n")
    args = ["--input", str(tmp_path / "empty.csv"), "--output", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(forecast_command, args, obj=APP)
    assert isinstance(result.exception, DataError) and "no rows" in str(result.exception)


def test_missing_output_directory_is_refused_before_fitting(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    result = CliRunner().invoke(
        forecast_command, [*args, "--output", str(tmp_path / "no" / "o.csv")], obj=APP
    )
    assert result.exit_code == 2 and "does not exist; create it first" in result.output


def test_a_failed_write_leaves_the_previous_output_whole(tmp_path, monkeypatch):
    """Written in place, a full disk cut a complete forecast file off at 4096 bytes."""
    write_csv(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    out.write_text("time,yhat,yhat_lower,yhat_upper\n2024-01-01T00:00:00Z,1,0,2\n")
    before = out.read_text()

    def disk_full(handle):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("capplan.files.os.fsync", disk_full)
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    result = CliRunner().invoke(forecast_command, [*args, "--horizon", "24", "--output", str(out)], obj=APP)
    assert isinstance(result.exception, CapplanError)  # the main group prints it as one line, exit 1
    assert f"cannot write {out}: No space left on device; the file was not changed" in str(result.exception)
    assert out.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_the_input_is_not_overwritten_by_its_forecast(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    result = CliRunner().invoke(forecast_command, [*args, "--output", str(tmp_path / "in.csv")], obj=APP)
    assert result.exit_code == 2 and "is the input; write the forecast to another file" in result.output
    assert len(pd.read_csv(tmp_path / "in.csv")) == 600


def test_csv_options_without_input_are_refused():
    result = CliRunner().invoke(forecast_command, ["--horizon", "2h", "--output", "x.csv"], obj=APP)
    assert result.exit_code == 2
    assert "--horizon, --output only apply with --input" in result.output


def test_influxdb_options_with_input_are_refused(tmp_path):
    """--measurement cpu with --input was ignored and the CSV forecast, exit 0."""
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--output", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(forecast_command, [*args, "--measurement", "cpu"], obj=APP)
    assert result.exit_code == 2 and "--measurement only applies without --input" in result.output
    result = CliRunner().invoke(forecast_command, [*args, "--field", "usage", "--tag", "host=a"], obj=APP)
    assert result.exit_code == 2 and "--field, --tag only apply without --input" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_step_sets_the_model_interval(tmp_path):
    series = write_csv(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    result = CliRunner().invoke(
        forecast_command, [*args, "--step", "2h", "--horizon", "48h", "--output", str(out)], obj=APP
    )
    assert result.exit_code == 0, result.output
    times = pd.to_datetime(pd.read_csv(out)["time"])
    assert len(times) == 24 and (times.diff().dropna() == pd.Timedelta("2h")).all()
    assert times.iloc[0] > series.index[-1]


def test_the_timezone_is_checked_and_told_by_explain(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--value-column", "cpu"]
    bad = CliRunner().invoke(forecast_command, [*args, "--timezone", "Berlin", "--output", "o.csv"], obj=APP)
    assert bad.exit_code == 2 and "unknown time zone 'Berlin'; give an IANA name" in bad.output
    result = CliRunner().invoke(explain_command, [*args, "--timezone", "Europe/Berlin"])
    assert result.exit_code == 0, result.output
    assert "clock:          Europe/Berlin" in result.output
    without_input = CliRunner().invoke(forecast_command, ["--timezone", "Europe/Berlin"], obj=APP)
    assert without_input.exit_code == 2 and "--timezone only applies with --input" in without_input.output


def test_every_command_has_help():
    for command in (forecast_command, explain_command):
        assert command.help and CliRunner().invoke(command, ["--help"]).exit_code == 0


def test_unparseable_times_are_a_data_error(tmp_path):
    (tmp_path / "bad.csv").write_text("time,value\nyesterday,1\ntoday,2\n")
    result = CliRunner().invoke(
        forecast_command, ["--input", str(tmp_path / "bad.csv"), "--output", "o.csv"], obj=APP
    )
    assert isinstance(result.exception, DataError)
    assert "ISO-8601" in str(result.exception)


def _invoke_on(tmp_path, text: str, *extra: str):
    (tmp_path / "in.csv").write_text(text)
    args = ["--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o.csv"), *extra]
    return CliRunner().invoke(forecast_command, args, obj=APP)


def _hourly_rows(n: int) -> list[str]:
    index = pd.date_range("2024-05-01", periods=n, freq="1h", tz="UTC")
    return [f"{t:%Y-%m-%dT%H:%M:%SZ},{20 + 4 * np.sin(i / 3.8):.3f}" for i, t in enumerate(index)]


def test_a_row_without_a_time_is_named_not_blamed_on_the_order(tmp_path):
    rows = _hourly_rows(400)
    rows[49] = "," + rows[49].split(",")[1]
    result = _invoke_on(tmp_path, "time,value\n" + "\n".join(rows) + "\n")
    assert isinstance(result.exception, DataError)
    assert "no time, the first at data row 50" in str(result.exception)


def test_a_value_that_is_not_a_number_is_named_and_not_dropped(tmp_path):
    rows = _hourly_rows(400)
    rows[9] = rows[9].split(",")[0] + ",-"
    for extra in ((), ("--value-column", "value")):
        result = _invoke_on(tmp_path, "time,value\n" + "\n".join(rows) + "\n", *extra)
        assert isinstance(result.exception, DataError)
        assert "value column 'value' holds '-' at data row 10" in str(result.exception)


def test_spaces_around_header_names_are_ignored(tmp_path):
    result = _invoke_on(tmp_path, " time , value \n" + "\n".join(_hourly_rows(400)) + "\n", "--horizon", "6")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "o.csv").shape == (6, 4)


def test_only_local_times_in_a_zone_that_repeats_them_get_the_dst_hint(tmp_path):
    """Times written with Z repeat for another reason than DST: the hint misled there."""
    rows = _hourly_rows(400)
    rows.insert(30, rows[29])
    local = [row.replace("Z,", ",") for row in rows]
    utc = _invoke_on(tmp_path, "time,value\n" + "\n".join(rows) + "\n", "--timezone", "Europe/London")
    assert isinstance(utc.exception, DataError) and "DST" not in str(utc.exception)
    assert "time 2024-05-02 05:00:00+00:00 is given 2 times (data rows 30, 31)" in str(utc.exception)
    naive = _invoke_on(tmp_path, "time,value\n" + "\n".join(local) + "\n", "--timezone", "Europe/London")
    assert "remove the repeated rows or average them" in str(naive.exception)  # 05:00 repeats in no zone
    autumn = ["2024-10-27T00:00:00,20", "2024-10-27T01:00:00,21", "2024-10-27T01:00:00,22"]
    autumn = _invoke_on(tmp_path, "time,value\n" + "\n".join(autumn) + "\n", "--timezone", "Europe/London")
    assert "repeat an hour when DST ends in Europe/London" in str(autumn.exception)


def test_a_horizon_of_no_steps_is_a_usage_error_like_a_negative_one(tmp_path):
    write_csv(tmp_path / "in.csv")
    args = ["--input", str(tmp_path / "in.csv"), "--time-column", "ts", "--output", str(tmp_path / "o.csv")]
    for horizon in ("0", "-5", "0h"):
        result = CliRunner().invoke(forecast_command, [*args, "--horizon", horizon], obj=APP)
        assert result.exit_code == 2 and "Invalid value for --horizon" in result.output
