"""The harness itself: real InfluxDB and Kapacitor answer, and Kapacitor's alerts reach the Slack stand-in."""

from __future__ import annotations

import time

import requests
from click.testing import CliRunner

from capplan.cli import cli


def test_influxdb_write_and_read_back(influx_client):
    now = time.time_ns() // 10**9 * 10**9
    points = [
        {
            "measurement": "probe",
            "tags": {"host": "srv 1"},
            "time": now - i * 60 * 10**9,
            "fields": {"value": v},
        }
        for i, v in enumerate([3.5, 2.5, 1.5])
    ]
    assert influx_client.write_points(points, time_precision="n")
    result = influx_client.query(
        'SELECT "value" FROM "probe" WHERE "host" = $h AND time > now() - 1h',
        bind_params={"h": "srv 1"},
        epoch="ns",
    )
    rows = list(result.get_points("probe"))
    assert [r["value"] for r in rows] == [1.5, 2.5, 3.5]
    assert rows[-1]["time"] == now


def test_kapacitor_batch_task_alerts_to_slack(influx_settings, influx_client, kapacitor_url, slack):
    db = influx_settings.database
    script = f"""
batch
    |query('SELECT max("value") AS value FROM "{db}"."autogen"."probe"')
        .period(1m)
        .every(1s)
    |alert()
        .id('harness-probe')
        .message('probe is {{{{ .Level }}}} at {{{{ index .Fields "value" }}}}')
        .crit(lambda: "value" > 50.0)
        .stateChangesOnly()
        .slack()
"""
    task_id = f"harness-{db}"
    api = kapacitor_url + "/kapacitor/v1"
    response = requests.post(
        api + "/tasks",
        json={
            "id": task_id,
            "type": "batch",
            "dbrps": [{"db": db, "rp": "autogen"}],
            "script": script,
            "status": "enabled",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    try:
        task = requests.get(f"{api}/tasks/{task_id}", timeout=10).json()
        assert task["executing"] is True, task
        assert task["error"] == ""

        influx_client.write_points(
            [{"measurement": "probe", "time": time.time_ns(), "fields": {"value": 99.0}}], time_precision="n"
        )
        posts = slack.wait_for(lambda p: "probe is CRITICAL" in str(p))
        assert posts, (
            f"no Slack POST; task stats: {requests.get(f'{api}/tasks/{task_id}', timeout=10).json()}"
        )
        assert posts[0]["channel"] == "#capplan-test"
        assert posts[0]["attachments"][0]["text"] == "probe is CRITICAL at 99"
        time.sleep(2)
        # stateChangesOnly: further evaluations at CRITICAL do not post again.
        assert len([p for p in slack.posts if "probe is CRITICAL" in str(p)]) == 1
    finally:
        requests.delete(f"{api}/tasks/{task_id}", timeout=10)


def test_doctor_reports_both_server_versions(influx_settings, kapacitor_url, tmp_path):
    wrapper = tmp_path / "capplan-kapacitor-exec"
    wrapper.write_text("#!/bin/sh\n")
    wrapper.chmod(0o755)
    result = CliRunner().invoke(
        cli,
        [
            "--influx-url",
            influx_settings.url,
            "--database",
            influx_settings.database,
            "--kapacitor-url",
            kapacitor_url,
            "--store",
            str(tmp_path / "models"),
            "doctor",
        ],
        env={"CAPPLAN_KAPACITOR_EXEC_WRAPPER": str(wrapper)},
    )
    assert result.exit_code == 0, result.output
    assert "influxdb: " in result.output and "version 1." in result.output
    assert f"kapacitor: {kapacitor_url} version 1.5.9" in result.output
    assert "influxdb retention policy: autogen" in result.output


def test_doctor_names_missing_database_and_fails(influx_settings, kapacitor_url):
    result = CliRunner().invoke(
        cli,
        [
            "--influx-url",
            influx_settings.url,
            "--database",
            "no_such_db",
            "--kapacitor-url",
            kapacitor_url,
            "doctor",
        ],
    )
    assert result.exit_code == 1
    assert "database 'no_such_db' not found" in result.output


def _doctor_with(influx_settings, kapacitor_url, tmp_path, config_text: str):
    config = tmp_path / "capplan.toml"
    config.write_text(config_text)
    flags = ["--influx-url", influx_settings.url, "--database", influx_settings.database]
    return CliRunner().invoke(
        cli, ["--config", str(config), *flags, "--kapacitor-url", kapacitor_url, "doctor"]
    )


def test_doctor_names_a_series_spec_that_finds_no_data(influx_settings, kapacitor_url, tmp_path):
    """A typo in a measurement name trained nothing for it, said so in one warning, and exited 0."""
    from capplan import influx

    influx.write_points(
        influx.connect(influx_settings),
        influx_settings,
        [
            {
                "measurement": "cpu",
                "tags": {"host": "a"},
                "fields": {"usage_user": 1.0},
                "time": time.time_ns(),
            }
        ],
    )
    result = _doctor_with(
        influx_settings,
        kapacitor_url,
        tmp_path,
        "[[series]]\nmeasurement = 'cpu'\nfield = 'usage_user'\n"
        "[[series]]\nmeasurement = 'cpuu'\nfield = 'usage_user'\n",
    )
    assert result.exit_code == 1
    assert "[[series]] cpu usage_user: 1 series with data in the last 28d" in result.output
    assert "[[series]] cpuu usage_user: no series with data in the last 28d" in result.output


def test_doctor_names_a_missing_retention_policy_instead_of_checking_series_in_it(
    influx_settings, kapacitor_url, tmp_path
):
    """Each [[series]] then found nothing (or failed on the same policy), which only hid the cause."""
    result = _doctor_with(
        influx_settings,
        kapacitor_url,
        tmp_path,
        "[influxdb]\nretention_policy = 'autogne'\n"
        "[[series]]\nmeasurement = 'cpu'\nfield = 'usage_user'\n"
        "[[series]]\nmeasurement = 'mem'\nfield = 'used_percent'\n",
    )
    assert result.exit_code == 1
    assert result.output.count("no retention policy 'autogne'") == 1, result.output
    assert "[[series]]" not in result.output
