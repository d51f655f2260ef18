import re
from datetime import timedelta
from pathlib import Path

import pytest

from capplan.config import load_settings, written
from capplan.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "capplan.toml"
    path.write_text(text)
    return path


def test_precedence_file_then_env_then_flags(tmp_path):
    path = _write(
        tmp_path,
        """
[influxdb]
url = "http://file:8086"
database = "filedb"
timeout = 3
[model]
keep_versions = 7
""",
    )
    env = {"CAPPLAN_INFLUXDB_DATABASE": "envdb", "CAPPLAN_INFLUXDB_URL": "http://env:8086"}
    settings = load_settings(
        path, env=env, overrides={"influxdb": {"url": "http://flag:8086", "database": None}}
    )
    assert settings.influxdb.url == "http://flag:8086"  # flag beats env beats file
    assert settings.influxdb.database == "envdb"  # unset flag (None) does not mask env
    assert settings.influxdb.timeout == 3.0
    assert settings.model.keep_versions == 7
    assert settings.kapacitor.url == "http://127.0.0.1:9092"  # default


def test_series_and_thresholds_tables(tmp_path):
    path = _write(
        tmp_path,
        """
[[series]]
measurement = "disk"
field = "used_percent"
where = { path = "/" }
[[thresholds]]
measurement = "disk"
field = "used_percent"
value = 90
tags = { host = "db1" }
""",
    )
    settings = load_settings(path, env={})
    assert settings.series[0].where == {"path": "/"}
    assert settings.series[0].aggregate == "mean"
    assert settings.thresholds[0].value == 90.0 and settings.thresholds[0].tags == {"host": "db1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[influxdb]\nurll = 'x'\n", "influxdb: unknown key(s) urll"),
        ("[influxdb]\ntimeout = 'soon'\n", "influxdb.timeout: expected a number"),
        ("[nonsense]\n", "unknown section(s) nonsense"),
        ("[influxdb\n", "invalid TOML"),
        ("[[thresholds]]\nmeasurement='d'\nfield='f'\nvalue=1\ndirection='up'\n", "direction must be"),
        ("[[thresholds]]\nmeasurement='d'\nvalue=1\n", "thresholds[0]: missing key(s) field"),
        ("[[series]]\nmeasurement='cpu'\nfield='u'\naggregate='avg'\n", "aggregate 'avg' is not one of"),
        ("[log]\nlevel='LOUD'\n", "log.level: 'LOUD' is not one of"),
        ("[series]\nmeasurement='cpu'\nfield='u'\n", "[series] must be written [[series]]"),
        ("[model]\nkeep_versions=0\n", "model.keep_versions: must be at least 1"),
        ("[model]\nkeep_versions=2.7\n", "model.keep_versions: expected a whole number, got 2.7"),
        ("influxdb = 'http://x'\n", "config: influxdb = ... must be a table: write [influxdb]"),
        ("[kapacitor]\nurl='127.0.0.1:9092'\n", "kapacitor.url: '127.0.0.1:9092' is not an http(s) URL"),
        ("[influxdb]\ntimeout=-5\n", "influxdb.timeout: must be a positive number of seconds"),
        ("[influxdb]\ntimeout=inf\n", "influxdb.timeout: must be a positive number of seconds"),
        ("[model]\ntimezone='CET+1'\n", "model.timezone: unknown time zone 'CET+1'; give an IANA name"),
        (
            "[[series]]\nmeasurement='cpu'\nfield='u'\n[[series]]\nmeasurement='cpu'\nfield='u'\n",
            "cpu.u is configured twice",
        ),
    ],
)
def test_bad_config_names_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(_write(tmp_path, text), env={})


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "capplan.toml"
    path.write_bytes("[model]\nstore = 'mod\u00e8les'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(path, env={})


def test_an_unknown_environment_setting_is_named_as_the_variable():
    with pytest.raises(ConfigError, match=r"environment variable CAPPLAN_LOG_DIR: log has no setting 'dir'"):
        load_settings(None, env={"CAPPLAN_LOG_DIR": "/x"})


def test_env_bool_and_missing_file(tmp_path):
    settings = load_settings(None, env={"CAPPLAN_INFLUXDB_VERIFY_SSL": "no"})
    assert settings.influxdb.verify_ssl is False
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 604800), ("2w", 1209600)]
)
def test_durations_in_influxdb_style(text, seconds):
    from capplan.config import duration

    assert duration(text).total_seconds() == seconds


def test_bad_duration_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"model.horizon: '7 days' is not a duration like 30s"):
        load_settings(_write(tmp_path, "[model]\nhorizon = '7 days'\n"), env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every = '0s'", "kapacitor.every: '0s' is not a positive TICKscript duration like 10s, 5m or 1h"),
        ("every = 'abc'", "kapacitor.every: 'abc' is not a positive TICKscript duration like 10s, 5m or 1h"),
        ("every = '1 h'", "kapacitor.every: '1 h' is not a positive TICKscript duration"),
        ("abs_threshold = -5", "kapacitor.abs_threshold: must be 0 (off) or a positive number, got -5.0"),
        ("rel_threshold = -0.1", "kapacitor.rel_threshold: must be 0 (off) or a positive number, got -0.1"),
        ("rel_threshold = nan", "kapacitor.rel_threshold: must be 0 (off) or a positive number, got nan"),
        # Task ids start with the prefix's slug: these two hid capplan's own tasks from list and delete.
        ("task_prefix = 'capplan-'", "kapacitor.task_prefix: 'capplan-' must be letters, digits and inner"),
        ("task_prefix = 'team capplan'", "kapacitor.task_prefix: 'team capplan' must be letters"),
    ],
)
def test_bad_alert_settings_are_refused_when_the_settings_load(tmp_path, text, message):
    """They passed `capplan doctor` and were refused only by `alerts define` (every), or were silently
    taken as off (a negative threshold)."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(_write(tmp_path, f"[kapacitor]\n{text}\n"), env={})
    settings = load_settings(_write(tmp_path, "[kapacitor]\nevery = '500ms'\nabs_threshold = 0\n"), env={})
    assert (settings.kapacitor.every, settings.kapacitor.abs_threshold) == ("500ms", 0.0)


def test_relative_paths_in_a_config_file_mean_its_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    config = _write(project, "[model]\nstore = 'models'\n[log]\nfile = 'var/capplan.log'\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config, env={})
    assert settings.model.store == str(project / "models")
    assert settings.log.file == str(project / "var" / "capplan.log")
    flagged = load_settings(config, env={}, overrides={"model": {"store": "mine"}})
    assert flagged.model.store == "mine"  # a flag is the user's own, relative to where they are


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=8, minutes=35), "8h35m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=2), "2d"),
        (timedelta(hours=-2), "-2h"),  # divmod of a negative read -1d22h
        (timedelta(milliseconds=1500), "1s500ms"),  # was pandas' 0:00:01.500000
        (timedelta(0), "0s"),
    ],
)
def test_durations_are_written_as_users_write_them(delta, text):
    assert written(delta) == text
