"""Alert tasks on the real Kapacitor: they define, run, alert only for the drifting series (Slack and the
exec program both receive it), survive awkward tag values, update in place, and fail cleanly."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from capplan import alerts, doctor, influx
from capplan.cli import cli
from capplan.cli.alerts import alerts_group
from capplan.cli.common import App
from capplan.config import KapacitorSettings, ModelSettings, SeriesSpec, Settings
from capplan.errors import ConfigError, InfluxError, KapacitorError
from capplan.kapacitor import KapacitorClient
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore

pytestmark = pytest.mark.servers

SEC = 10**9
AWKWARD = 'srv 1 o\'brien "q" /var,a=b c\\d ünï {{ .Level }}'


def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """An exec target that appends its argv and stdin, as JSON, to a file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "exec.jsonl"
    program = tmp_path / "record"
    program.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read()}) + '\\n')\n"
    )
    program.chmod(0o755)
    return program, out


def recorded(out: Path, timeout: float = 30.0, count: int = 1) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and len(lines := out.read_text().splitlines()) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.1)
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def settings_for(influx_settings, kapacitor_settings, program: Path, **kapacitor) -> Settings:
    return Settings(
        influxdb=influx_settings,
        kapacitor=KapacitorSettings(
            url=kapacitor_settings.url,
            exec_wrapper=str(program),
            slack_channel="#capacity",
            task_prefix=f"t{influx_settings.database[-8:]}",
            **kapacitor,
        ),
        model=ModelSettings(interval="5s"),
    )


def write_window(client, settings, key: SeriesKey, real: float, yhat: float = 50.0, width: float = 5.0):
    """Real and forecast points every second from 40 s ago to 40 s ahead (the task reads the newest)."""
    now = time.time_ns() // SEC * SEC
    points = []
    for i in range(-40, 41):
        t = now + i * SEC
        points.append(
            {"measurement": key.measurement, "tags": key.tag_dict, "time": t, "fields": {key.field: real}}
        )
        points.append(
            {
                "measurement": f"pred_{key.measurement}",
                "tags": {**key.forecast_tags(), "capplan_model": "lstm"},
                "time": t,
                "fields": {"yhat": yhat, "yhat_lower": yhat - width, "yhat_upper": yhat + width},
            }
        )
    influx.write_points(client, settings, points)


@pytest.fixture
def client(kapacitor_settings):
    return KapacitorClient(kapacitor_settings)


@pytest.fixture
def cleanup(client):
    ids: list[str] = []
    yield ids
    for task_id in ids:
        client.delete_task(task_id)


def wait_executing(client: KapacitorClient, task_id: str) -> dict:
    task = client.get_task(task_id)
    assert task is not None
    assert task["status"] == "enabled"
    assert task["executing"], task["error"]
    assert task["error"] == ""
    return task


def test_per_series_alerts_only_the_drifting_series(
    tmp_path, influx_settings, influx_client, kapacitor_settings, client, cleanup, slack
):
    program, out = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    spec = SeriesSpec("cpu", "usage_user")
    drifting = SeriesKey.of("cpu", "usage_user", {"host": AWKWARD, "cpu": "cpu-total"})
    steady = SeriesKey.of("cpu", "usage_user", {"host": AWKWARD + "2", "cpu": "cpu-total"})
    # steady's tags plus one more: another series (not watched here) that steady's filter must leave out.
    extra = SeriesKey.of("cpu", "usage_user", {"host": AWKWARD + "2", "cpu": "cpu-total", "dc": "x"})
    write_window(influx_client, influx_settings, drifting, real=80.0)
    write_window(influx_client, influx_settings, steady, real=50.0)
    write_window(influx_client, influx_settings, extra, real=-500.0)

    tasks = alerts.render(settings, spec, [drifting, steady, extra], every="1s")[:2]
    cleanup.extend(t.id for t in tasks)
    assert alerts.define(client, tasks) == [(t.id, "created") for t in tasks]
    for task in tasks:
        wait_executing(client, task.id)

    posts = slack.wait_for(lambda p: str(drifting) in p["attachments"][0]["text"])
    assert posts, slack.posts
    text = posts[0]["attachments"][0]["text"]
    assert "CRITICAL" in text and "real 80" in text and "forecast 50" in text and "45 to 55" in text
    assert posts[0]["channel"] == "#capacity"
    calls = recorded(out)
    assert [c["argv"] for c in calls] == [["series", str(drifting)]]
    alert = json.loads(calls[0]["stdin"])
    assert alert["level"] == "CRITICAL"
    assert alert["data"]["series"][0]["tags"] == drifting.tag_dict
    # stateChangesOnly(5s): evaluated every second, still CRITICAL, yet called again at most once per
    # model interval (without it, three more calls in these 3 s); the others never fire
    time.sleep(3)
    again = recorded(out, timeout=0)
    assert len(again) <= 2 and all(c["argv"] == ["series", str(drifting)] for c in again)
    # ...and it is called again while the drift lasts, so the next retrain sees the next bucket
    repeat = recorded(out, timeout=15, count=2)[1]
    assert repeat["argv"] == ["series", str(drifting)]
    assert (json.loads(repeat["stdin"])["level"], json.loads(repeat["stdin"])["previousLevel"]) == (
        "CRITICAL",
        "CRITICAL",
    )
    assert not [p for p in slack.posts if str(steady) in p["attachments"][0]["text"]]


def test_grouped_alerts_name_the_series_in_tags(
    tmp_path, influx_settings, influx_client, kapacitor_settings, client, cleanup, slack
):
    program, out = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    spec = SeriesSpec("mem", "used_percent")
    drifting = SeriesKey.of("mem", "used_percent", {"host": AWKWARD})
    steady = SeriesKey.of("mem", "used_percent", {"host": "db1"})
    write_window(influx_client, influx_settings, drifting, real=10.0)
    write_window(influx_client, influx_settings, steady, real=52.0)

    (task,) = alerts.render(settings, spec, [drifting, steady], grouped=True, every="1s")
    cleanup.append(task.id)
    alerts.define(client, [task])
    wait_executing(client, task.id)

    calls = recorded(out)
    assert [c["argv"] for c in calls] == [["group", "mem", "used_percent"]]
    assert json.loads(calls[0]["stdin"])["data"]["series"][0]["tags"] == {"host": AWKWARD}
    assert slack.wait_for(lambda p: AWKWARD in p["attachments"][0]["text"])
    time.sleep(2)  # evaluated every second: called again at most once per 5 s model interval
    assert len(recorded(out, timeout=0)) <= 2


def test_thresholds_fire_inside_the_interval(
    tmp_path, influx_settings, influx_client, kapacitor_settings, client, cleanup, slack
):
    program, out = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program, rel_threshold=0.05)
    key = SeriesKey.of("disk", "used", {"path": "/"})
    write_window(influx_client, influx_settings, key, real=53.0, width=10.0)  # inside, but 6 % off
    (task,) = alerts.render(settings, SeriesSpec("disk", "used"), [key], every="1s")
    cleanup.append(task.id)
    alerts.define(client, [task])
    assert recorded(out)[0]["argv"] == ["series", str(key)]


def test_alerts_more_often_than_the_interval_are_refused_for_sums():
    """A run every 5 minutes judges the hour still filling: a part-hour sum reads low, so every series
    would alert and retrain at once, every run. A part-hour mean estimates the hour."""
    settings = Settings(kapacitor=KapacitorSettings(exec_wrapper="/opt/capplan-retrain", every="5m"))
    net = SeriesKey.of("net", "bytes_recv", {"host": "a"})
    with pytest.raises(ConfigError, match=r"set kapacitor\.every to 1h or longer"):
        alerts.render(settings, SeriesSpec("net", "bytes_recv", aggregate="sum"), [net])
    assert alerts.render(settings, SeriesSpec("net", "bytes_recv", aggregate="sum"), [net], every="1h")
    assert alerts.render(settings, SeriesSpec("net", "bytes_recv"), [net])


def test_alerts_more_often_than_the_interval_are_warned_of_for_means_too(caplog):
    """The minutes of an hour so far are not the hour: every 1m put 9 of 18 normal series into
    CRITICAL on a real server. A mean is still rendered (the tests' loop runs every second), with a
    warning, and doctor fails the schedule."""
    settings = Settings(kapacitor=KapacitorSettings(exec_wrapper="/opt/capplan-retrain", every="1m"))
    cpu = SeriesKey.of("cpu", "usage_user", {"host": "a"})
    assert alerts.render(settings, SeriesSpec("cpu", "usage_user"), [cpu])
    assert "alerts every 1m judge the 1h bucket still filling" in caplog.text
    [check] = [c for c in doctor.offline_checks(settings) if c.name == "alert schedule"]
    assert not check.ok and "set kapacitor.every to 1h unless testing" in check.detail
    [check] = [c for c in doctor.offline_checks(Settings()) if c.name == "alert schedule"]
    assert check.ok
    upper = Settings(model=ModelSettings(interval="1H"))  # train reads it; TICKscript does not
    [check] = [c for c in doctor.offline_checks(upper) if c.name == "alert schedule"]
    assert not check.ok and "'1H' is not a positive TICKscript duration" in check.detail


def test_define_twice_updates_and_reloads(
    tmp_path, influx_settings, influx_client, kapacitor_settings, client, cleanup
):
    """The first version runs hourly (never within the test); only a reloaded second version, running
    every second with another exec program, can report the drift."""
    first_program, first_out = recorder(tmp_path / "first")
    second_program, second_out = recorder(tmp_path / "second")
    key = SeriesKey.of("cpu", "usage_user", {"host": "a"})
    spec = SeriesSpec("cpu", "usage_user")
    write_window(influx_client, influx_settings, key, real=99.0)
    first = alerts.render(settings_for(influx_settings, kapacitor_settings, first_program), spec, [key])
    cleanup.extend(t.id for t in first)
    assert alerts.define(client, first) == [(first[0].id, "created")]
    settings = settings_for(influx_settings, kapacitor_settings, second_program)
    second = alerts.render(settings, spec, [key], every="1s")
    assert [t.id for t in second] == [t.id for t in first]
    assert alerts.define(client, second) == [(first[0].id, "updated")]
    task = wait_executing(client, first[0].id)
    assert ".every(1s)" in task["script"] and str(second_program) in task["script"]
    assert recorded(second_out)[0]["argv"] == ["series", str(key)]
    assert not first_out.exists()


def test_rejected_script_changes_nothing(tmp_path, influx_settings, kapacitor_settings, client, cleanup):
    program, _ = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    spec = SeriesSpec("cpu", "usage_user")
    good, other = (
        SeriesKey.of("cpu", "usage_user", {"host": "a"}),
        SeriesKey.of("cpu", "usage_user", {"host": "b"}),
    )
    tasks = alerts.render(settings, spec, [good, other], every="1s")
    cleanup.extend(t.id for t in tasks)
    alerts.define(client, tasks[:1])
    before = client.get_task(tasks[0].id)
    broken = [
        tasks[0].__class__(
            t.id, t.script.replace("|join(pred)", "|join(pred"), t.database, t.retention_policy
        )
        for t in tasks
    ]
    with pytest.raises(KapacitorError, match="rejected the script") as error:
        alerts.define(client, broken)
    assert "parser" in str(error.value) or "unexpected" in str(error.value)
    after = client.get_task(tasks[0].id)
    assert after["script"] == before["script"] and after["executing"]
    assert client.get_task(tasks[1].id) is None
    assert not [t for t in client.list_tasks("capplan-check-*")]


def test_script_that_cannot_start_leaves_the_old_task_running(
    tmp_path, influx_settings, kapacitor_settings, client, cleanup
):
    program, _ = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    key = SeriesKey.of("cpu", "usage_user", {"host": "a"})
    [task] = alerts.render(settings, SeriesSpec("cpu", "usage_user"), [key], every="1s")
    cleanup.append(task.id)
    alerts.define(client, [task])
    before = client.get_task(task.id)
    assert ".every(1s)" in task.script  # Kapacitor compiles .every(0s) and refuses only to start it
    stuck = task.__class__(
        task.id, task.script.replace(".every(1s)", ".every(0s)"), task.database, task.retention_policy
    )
    with pytest.raises(KapacitorError, match="every"):
        alerts.define(client, [stuck])
    after = wait_executing(client, task.id)
    assert after["script"] == before["script"]


def test_an_unknown_task_id_is_an_error_before_any_task_is_changed(
    tmp_path, influx_settings, kapacitor_settings, client, cleanup
):
    program, _ = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    key = SeriesKey.of("cpu", "usage_user", {"host": "a"})
    [task] = alerts.render(settings, SeriesSpec("cpu", "usage_user"), [key])
    cleanup.append(task.id)
    alerts.define(client, [task])
    nope = f"{settings.kapacitor.task_prefix}-nope-task"
    with pytest.raises(KapacitorError, match=f"no Kapacitor task {nope}"):
        alerts.delete(client, [task.id, nope], prefix=settings.kapacitor.task_prefix)
    with pytest.raises(KapacitorError, match=f"no Kapacitor task {nope}"):
        alerts.set_status(client, [task.id, nope], enabled=False, prefix=settings.kapacitor.task_prefix)
    assert client.get_task(task.id)["status"] == "enabled"


def test_unreachable_kapacitor_is_one_clear_error():
    client = KapacitorClient(KapacitorSettings(url="http://127.0.0.1:9", timeout=1))
    with pytest.raises(KapacitorError, match="unreachable"):
        client.list_tasks("capplan-*")


def test_status_lists_tasks_with_kapacitor_state(
    tmp_path, influx_settings, kapacitor_settings, client, cleanup
):
    program, _ = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    tasks = alerts.render(
        settings, SeriesSpec("cpu", "usage_user"), [SeriesKey.of("cpu", "usage_user", {"host": "a"})]
    )
    cleanup.extend(t.id for t in tasks)
    alerts.define(client, tasks)
    alerts.set_status(client, [tasks[0].id], enabled=False, prefix=settings.kapacitor.task_prefix)
    [row] = alerts.status(client, settings.kapacitor.task_prefix)
    assert (row.id, row.status, row.executing, row.error) == (tasks[0].id, "disabled", False, "")
    alerts.delete(client, [tasks[0].id], prefix=settings.kapacitor.task_prefix)
    assert alerts.status(client, settings.kapacitor.task_prefix) == []


def test_slack_service_test_reaches_the_webhook(client, slack):
    answer = alerts.test_slack(client, channel="#capacity", message="capplan says hi")
    assert answer
    assert slack.wait_for(lambda p: p.get("channel") == "#capacity" and "capplan says hi" in json.dumps(p))


def test_slack_test_via_requests_matches_endpoint(kapacitor_url):
    """The service-test endpoint exists on this Kapacitor (guards the path the library uses)."""
    response = requests.get(kapacitor_url + "/kapacitor/v1/service-tests/slack", timeout=5)
    assert response.status_code == 200
    assert "options" in response.json()


def test_cli_renders_defines_lists_and_deletes_stored_series(
    tmp_path, influx_settings, kapacitor_settings, slack
):
    program, _ = recorder(tmp_path)
    settings = dataclasses.replace(
        settings_for(influx_settings, kapacitor_settings, program),
        model=ModelSettings(interval="5s", store=str(tmp_path / "models")),
    )
    keys = [SeriesKey.of("cpu", "usage_user", {"host": h}) for h in ("a", "b c")]
    store = ModelStore(tmp_path / "models")
    for key in keys:
        store.save(key, lambda d: {"model": "naive"})
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(alerts_group, list(args), obj=App(settings), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    dry = run("define", "--dry-run", "--tag", "host=b c")
    assert dry.count("// ---- task ") == 1 and r'"host" = \'b c\'' in dry
    assert "task a" not in dry and "host_a_" not in dry
    assert run("render", "--grouped").count("// ---- task ") == 1
    assert run("list", "--json") == "[]\n"
    assert run("define", "--every", "1h").count("created ") == 2
    assert run("define").count("updated ") == 2
    rows = json.loads(run("list", "--json"))
    assert [(r["status"], r["executing"], r["error"]) for r in rows] == [("enabled", True, "")] * 2
    run("disable", rows[0]["id"])
    assert "disabled" in run("list")
    assert "sent" in run("test-slack", "--message", "from the CLI")
    assert slack.wait_for(lambda p: "from the CLI" in json.dumps(p))
    grouped = runner.invoke(alerts_group, ["define", "--grouped", "--every", "1h"], obj=App(settings))
    assert grouped.exit_code == 0 and "2 per-series task(s) also watch these series" in grouped.output
    assert run("delete", "--all") == "deleted 3 task(s)\n"
    assert run("list", "--json") == "[]\n"


def test_series_no_longer_configured_get_no_alerts_and_fail_doctor(tmp_path, influx_settings, caplog):
    """A [[series]] removed from the configuration left its stored models: `forecast` skipped them
    silently, `define` still deployed their tasks on forecasts nothing refreshed, `doctor` said OK."""
    settings = dataclasses.replace(
        settings_for(influx_settings, KapacitorSettings(url="http://127.0.0.1:9"), "/bin/true"),
        model=ModelSettings(store=str(tmp_path / "models")),
        series=(SeriesSpec("cpu", "usage_user"),),
    )
    cpu = SeriesKey.of("cpu", "usage_user", {"host": "a"})
    mem = SeriesKey.of("mem", "used_percent", {"host": "a"})
    for key in (cpu, mem):
        ModelStore(tmp_path / "models").save(key, lambda d: {})
    result = CliRunner().invoke(alerts_group, ["render"], obj=App(settings))
    assert result.exit_code == 0, result.output
    assert result.output.count("// ---- task ") == 1 and "mem" not in result.output
    assert "1 stored series no [[series]] names (mem,host=a used_percent)" in caplog.text
    [check] = [c for c in doctor.offline_checks(settings) if c.name == "stored series"]
    assert not check.ok and "add the [[series]] back, or delete their alerts" in check.detail


def test_tasks_name_the_databases_default_retention_policy(tmp_path, influx_settings, influx_client):
    """train reads and writes the default RP when influxdb.retention_policy is empty; a task that said
    autogen instead failed every hour with "retention policy not found" and alerted on nothing."""
    influx_client.create_retention_policy("rp30", "30d", 1, database=influx_settings.database, default=True)
    settings = dataclasses.replace(
        settings_for(influx_settings, KapacitorSettings(url="http://127.0.0.1:9"), "/bin/true"),
        model=ModelSettings(store=str(tmp_path / "models")),
    )
    ModelStore(tmp_path / "models").save(SeriesKey.of("cpu", "usage_user", {"host": "a"}), lambda d: {})
    result = CliRunner().invoke(alerts_group, ["render"], obj=App(settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"(dbrp {influx_settings.database}.rp30)" in result.output and '"rp30"' in result.output
    assert "autogen" not in result.output


def test_define_refuses_a_retention_policy_the_database_lacks_and_warns_of_a_missing_wrapper(
    tmp_path, influx_settings, kapacitor_settings, client, cleanup
):
    """Both used to exit 0: with a policy that does not exist the tasks query nothing and never alert,
    and with no wrapper they alert to Slack but never retrain."""
    ModelStore(tmp_path / "models").save(SeriesKey.of("cpu", "usage_user", {"host": "a"}), lambda d: {})
    settings = dataclasses.replace(
        settings_for(influx_settings, kapacitor_settings, "/no/such/wrapper"),
        model=ModelSettings(interval="5s", store=str(tmp_path / "models")),
    )
    typo = dataclasses.replace(
        settings, influxdb=dataclasses.replace(influx_settings, retention_policy="autogne")
    )
    offline = dataclasses.replace(typo, influxdb=dataclasses.replace(typo.influxdb, url="http://127.0.0.1:9"))
    assert CliRunner().invoke(alerts_group, ["render"], obj=App(offline)).exit_code == 0  # needs no server
    refused = CliRunner().invoke(alerts_group, ["define"], obj=App(typo))
    assert isinstance(refused.exception, InfluxError)
    assert "has no retention policy 'autogne' (have: autogen)" in str(refused.exception)
    assert client.list_tasks(f"{settings.kapacitor.task_prefix}*") == []
    defined = CliRunner().invoke(alerts_group, ["define"], obj=App(settings))
    assert defined.exit_code == 0, defined.output
    assert "warning: exec wrapper /no/such/wrapper missing or not executable" in defined.stderr
    cleanup.extend(line.split()[-1] for line in defined.stdout.splitlines() if line.startswith("created"))


def test_tasks_without_capplans_prefix_are_refused_and_left_alone(
    tmp_path, influx_settings, kapacitor_settings, client, cleanup
):
    """`alerts delete ops-cpu-alert` used to delete a task someone else defined in the same Kapacitor;
    enable and disable changed it too. list and delete --all only ever saw capplan's prefix."""
    program, _ = recorder(tmp_path)
    settings = settings_for(influx_settings, kapacitor_settings, program)
    [ours] = alerts.render(
        settings, SeriesSpec("cpu", "usage_user"), [SeriesKey.of("cpu", "usage_user", {"host": "a"})]
    )
    foreign = f"ops-cpu-alert-{settings.kapacitor.task_prefix}"
    cleanup.extend([ours.id, foreign])
    alerts.define(client, [ours])
    rp = f'"{influx_settings.database}"."autogen"'
    client.create_task(
        {
            "id": foreign,
            "type": "batch",
            "dbrps": [{"db": influx_settings.database, "rp": "autogen"}],
            "script": f"batch|query('SELECT mean(usage_user) FROM {rp}.\"cpu\"').period(1h).every(1h)",
            "status": "enabled",
        }
    )
    config = tmp_path / "capplan.toml"
    config.write_text(
        f'[kapacitor]\nurl = "{kapacitor_settings.url}"\ntask_prefix = "{settings.kapacitor.task_prefix}"\n'
    )
    for command in (
        ["delete", foreign],
        ["delete", ours.id, foreign],
        ["disable", foreign],
        ["enable", foreign],
    ):
        result = CliRunner().invoke(cli, ["--config", str(config), "alerts", *command])
        assert result.exit_code == KapacitorError.exit_code, (command, result.output)
        assert result.output == (
            f"Error: not a capplan task: {foreign} (capplan's ids start with "
            f"'{settings.kapacitor.task_prefix}-', from kapacitor.task_prefix); see `capplan alerts list`\n"
        )
    assert client.get_task(foreign)["status"] == "enabled"
    assert client.get_task(ours.id)["status"] == "enabled"
