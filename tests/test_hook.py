"""The exec hook as Kapacitor runs it (a separate process, alert JSON on stdin): validation, levels,
unknown series, the detached worker, the per-series lock, and how fast it returns."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capplan import hook
from capplan.config import ModelSettings, Settings
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore
from tests.bootstrap import run_bootstrap

T0 = "2026-01-01T00:00:00Z"
KEY = SeriesKey.of("cpu", "usage_user", {"host": "srv 1 o'brien/ü", "cpu": "cpu-total"})


def alert(level: str = "CRITICAL", tags: dict[str, str] | None = None, when: str = T0) -> str:
    return json.dumps(
        {
            "id": "capplan-x",
            "message": "m",
            "details": "",
            "time": when,
            "duration": 0,
            "level": level,
            "data": {
                "series": [
                    {
                        "name": "cpu",
                        "tags": KEY.tag_dict if tags is None else tags,
                        "columns": ["time", "outside"],
                        "values": [["2026-01-01T00:00:00Z", True]],
                    }
                ]
            },
            "previousLevel": "OK",
            "recoverable": True,
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory whose store holds a model for KEY (a stand-in version: the hook only checks
    that the series is known; the worker's retrain is exercised by the end-to-end tests)."""
    ModelStore(tmp_path / "models").save(KEY, lambda d: {"model": "naive"})
    return tmp_path


@pytest.fixture
def stalled_influx():
    """A port that accepts connections and never answers: the worker's retrain blocks on it for the
    configured timeout, long enough to observe the lock being held."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def run_hook(project: Path, args: list[str], stdin: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "capplan.hook", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=project,
        env={**os.environ, "CAPPLAN_MODEL_STORE": str(project / "models"), **env},
        timeout=30,
    )


def log_text(project: Path) -> str:
    path = project / "models" / "retrain.log"
    return path.read_text() if path.exists() else ""


def worker_pids(project: Path) -> list[int]:
    return [int(p) for p in re.findall(r"handed to worker (\d+)", log_text(project))]


def wait_for_log(project: Path, pattern: str, timeout: float = 60.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, log_text(project)):
            return match
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in log:\n{log_text(project)}")


@pytest.mark.parametrize(
    "stdin",
    [
        "not json",
        "[1, 2]",
        json.dumps({"level": "PANIC", "time": T0, "data": {"series": [{"tags": {}}]}}),
        json.dumps({"level": "CRITICAL", "time": "yesterday", "data": {"series": [{"tags": {}}]}}),
        json.dumps({"level": "CRITICAL", "time": "2026-02-30T00:00:00Z", "data": {"series": [{"tags": {}}]}}),
        json.dumps({"level": "CRITICAL", "time": "2026-01-01T00:00:00+25:00", "data": {"series": [{}]}}),
        json.dumps({"level": "CRITICAL", "data": {"series": [{"tags": {}}]}}),
        json.dumps({"level": "CRITICAL", "time": T0, "data": {}}),
        json.dumps({"level": "CRITICAL", "time": T0, "data": {"series": [{"tags": {"host": 1}}]}}),
        # recorded as the newest alert, it made every real one look old: no retrain until 2099
        alert(when="2099-01-01T00:00:00Z"),
    ],
)
def test_malformed_alert_is_logged_and_refused(project, stdin):
    done = run_hook(project, ["series", str(KEY)], stdin)
    assert done.returncode == hook.EXIT_MALFORMED
    assert "rejected alert" in log_text(project)
    assert worker_pids(project) == []
    # Kapacitor logs a failed program's stderr, not the retrain log
    assert done.stderr.startswith("capplan-retrain: rejected alert") and len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "text, ns",
    [
        ("2026-01-01T00:00:00Z", 1767225600 * 10**9),
        ("2026-01-01T00:00:00.000000001Z", 1767225600 * 10**9 + 1),
        ("2026-01-01T00:00:00.5Z", 1767225600 * 10**9 + 500_000_000),
        ("2026-01-01T01:00:00.123456789+01:00", 1767225600 * 10**9 + 123_456_789),
    ],
)
def test_alert_time_keeps_kapacitors_nanoseconds(text, ns):
    assert hook.alert_time_ns(text) == ns


def test_bad_arguments_are_refused(project):
    for args in (["series"], ["retrain", str(KEY)], ["series", "no-field-here"]):
        assert run_hook(project, args, alert()).returncode == hook.EXIT_MALFORMED
    assert worker_pids(project) == []


def test_tags_that_do_not_match_the_argument_are_refused(project):
    done = run_hook(project, ["series", str(KEY)], alert(tags={"host": "other"}))
    assert done.returncode == hook.EXIT_MALFORMED
    assert "are not those of" in log_text(project)


@pytest.mark.parametrize("level", ["OK", "INFO", "WARNING"])
def test_non_critical_levels_are_logged_not_retrained(project, level):
    assert run_hook(project, ["series", str(KEY)], alert(level)).returncode == 0
    assert f"{level} alert capplan-x, no retrain" in log_text(project)
    assert worker_pids(project) == []


def test_unknown_series_exits_non_zero_without_retrain(project):
    other = SeriesKey.of("cpu", "usage_user", {"host": "nobody", "cpu": "cpu-total"})
    done = run_hook(project, ["series", str(other)], alert(tags=other.tag_dict))
    assert done.returncode == 5
    assert "no model in" in log_text(project)
    assert worker_pids(project) == []
    assert not (project / "models" / ".retrain-locks").exists()


def test_grouped_alert_takes_the_series_from_its_tags(project):
    """Empty tag values (series without that tag in a groupBy) are dropped; the model is then unknown."""
    with_empty = {**KEY.tag_dict, "dc": ""}
    done = run_hook(project, ["group", "cpu", "usage_user"], alert("OK", tags=with_empty))
    assert done.returncode == 0
    assert f"{KEY}: OK alert" in log_text(project)
    done = run_hook(project, ["group", "cpu", "usage_user"], alert(tags={"host": "nobody"}))
    assert done.returncode == 5


def hook_env(project: Path, **env: str) -> dict[str, str]:
    return {**os.environ, "CAPPLAN_MODEL_STORE": str(project / "models"), **env}


def test_critical_starts_one_detached_worker(project, stalled_influx, capsys):
    started = time.monotonic()
    done = run_hook(project, ["series", str(KEY)], alert(), CAPPLAN_INFLUXDB_URL=stalled_influx)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    [pid] = worker_pids(project)
    # Detached: own session, stdin from /dev/null, output to the retrain log (it lives >1 s: imports).
    assert os.getsid(pid) == pid != os.getsid(0)
    assert os.readlink(f"/proc/{pid}/fd/0") == os.devnull
    assert os.readlink(f"/proc/{pid}/fd/1") == str(project / "models" / "retrain.log")
    # The stand-in model cannot be loaded: the worker logs the failure and exits (lock released).
    wait_for_log(project, rf"\[{pid}\] capplan.hook: .*retrain failed: ")
    with capsys.disabled():
        print(f"\nhook process, start to exit (CRITICAL, worker spawned): {seconds * 1e3:.0f} ms")


def test_workers_queue_for_the_configured_retrain_slots(project, stalled_influx):
    """With every slot taken (here the only one, by this test) a worker waits, lock held, and starts
    its retrain only when a slot frees."""
    settings = Settings(model=ModelSettings(store=str(project / "models"), retrain_workers=1))
    slot = hook.take_slot(settings)
    try:
        env = {"CAPPLAN_INFLUXDB_URL": stalled_influx, "CAPPLAN_MODEL_RETRAIN_WORKERS": "1"}
        assert run_hook(project, ["series", str(KEY)], alert(), **env).returncode == 0
        wait_for_log(project, r"all 1 retrain slots busy; waiting for one")
        time.sleep(1.5)
        assert "retrain started" not in log_text(project)
        assert hook.try_lock(hook.lock_path(settings, KEY)) is None  # a queued worker still holds it
    finally:
        os.close(slot)
    wait_for_log(project, r"retrain started")


def test_burst_while_retraining_starts_no_second_worker(project):
    """While a retrain holds the series' lock, 20 concurrent CRITICALs all exit 0 without a worker."""
    settings = Settings(model=ModelSettings(store=str(project / "models")))
    fd = hook.try_lock(hook.lock_path(settings, KEY))
    assert fd is not None
    try:
        burst = [
            subprocess.Popen(
                [sys.executable, "-m", "capplan.hook", "series", str(KEY)],
                stdin=subprocess.PIPE,
                text=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=project,
                env=hook_env(project),
            )
            for _ in range(20)
        ]
        for process in burst:
            process.stdin.write(alert())
            process.stdin.close()
        assert [p.wait(timeout=60) for p in burst] == [0] * 20
    finally:
        os.close(fd)
    assert worker_pids(project) == []
    assert log_text(project).count("already retraining") == 20


def test_handle_returns_within_200_ms(project, stalled_influx, monkeypatch, capsys):
    """The hook's own work once its modules are loaded: validate, check the store, lock, spawn."""
    monkeypatch.setenv("CAPPLAN_MODEL_STORE", str(project / "models"))
    monkeypatch.setenv("CAPPLAN_INFLUXDB_URL", stalled_influx)
    monkeypatch.setenv("CAPPLAN_INFLUXDB_TIMEOUT", "1")
    monkeypatch.chdir(project)
    spawned: list[int] = []
    spawn = hook.spawn_worker
    monkeypatch.setattr(hook, "spawn_worker", lambda *a: spawned.append(spawn(*a)) or spawned[-1])
    settings = Settings(model=ModelSettings(store=str(project / "models")))

    started = time.monotonic()
    code = hook.handle(["series", str(KEY)], io.StringIO(alert()), settings)
    elapsed = time.monotonic() - started
    assert code == 0
    assert len(spawned) == 1
    assert hook.try_lock(hook.lock_path(settings, KEY)) is None  # held by the worker
    os.waitpid(spawned[0], 0)
    fd = hook.try_lock(hook.lock_path(settings, KEY))  # released when the worker exited
    assert fd is not None
    os.close(fd)
    with capsys.disabled():
        print(f"\nhook.handle: {elapsed * 1e3:.1f} ms")
    assert elapsed < 0.2


def test_bootstrap_wrapper_runs_the_hook_from_anywhere(tmp_path):
    """The wrapper works as Kapacitor runs it: another cwd, a bare environment, paths with spaces and
    quotes, arguments and stdin passed through, settings from the project's config."""
    project = tmp_path / "capacity project's dir"
    (project / "var").mkdir(parents=True)
    (project / "capplan.toml").write_text('[model]\nstore = "var/models"\n')
    ModelStore(project / "var" / "models").save(KEY, lambda d: {"model": "naive"})
    wrapper = tmp_path / "bin dir" / "capplan exec"
    setup = run_bootstrap(project, wrapper)
    assert setup.returncode == 0, setup.stderr
    assert f'exec_wrapper = "{wrapper}"' in setup.stdout

    def run(args: list[str], stdin: str) -> int:
        return subprocess.run(
            [str(wrapper), *args], input=stdin, text=True, cwd="/", env={}, capture_output=True, timeout=30
        ).returncode

    assert run(["series", str(KEY)], alert("OK")) == 0
    log = (project / "var" / "models" / "retrain.log").read_text()
    assert f"{KEY}: OK alert capplan-x, no retrain" in log
    assert run(["group", "cpu", "usage_user"], alert(tags={"host": "nobody"})) == 5


def test_damaged_store_is_logged_and_exits_with_its_code(project):
    [metadata] = (project / "models").glob("*/v1/metadata.json")
    metadata.write_text("{broken")
    assert run_hook(project, ["series", str(KEY)], alert()).returncode == 5
    assert "is unreadable" in log_text(project)
    assert worker_pids(project) == []


def test_a_future_time_matters_only_on_an_alert_that_would_retrain(project):
    """OK, INFO and WARNING alerts are never recorded, so their time cannot block anything."""
    done = run_hook(project, ["series", str(KEY)], alert(level="OK", when="2099-01-01T00:00:00Z"))
    assert done.returncode == 0 and done.stderr == ""


def test_a_damaged_older_version_does_not_stop_the_retrain(project, monkeypatch):
    """Only the current version is what a retrain starts from; reading every version's metadata made
    one damaged old version refuse every alert of the series."""
    ModelStore(project / "models").save(KEY, lambda d: {"model": "naive"})
    [old] = (project / "models").glob("*/v1/metadata.json")
    old.write_text("{broken")
    spawned: list[SeriesKey] = []
    monkeypatch.setattr(hook, "spawn_worker", lambda settings, key, fd: spawned.append(key) or 4242)
    settings = Settings(model=ModelSettings(store=str(project / "models")))
    assert hook.handle(["series", str(KEY)], io.StringIO(alert()), settings) == 0
    assert spawned == [KEY]


def test_an_alert_already_retrained_for_is_not_retrained_again(project, monkeypatch):
    """A burst can outlast a quick retrain: once the lock is free again, an alert no newer than the one
    handed off starts nothing; a newer drift (a later bucket) does."""
    spawned: list[SeriesKey] = []
    monkeypatch.setattr(hook, "spawn_worker", lambda settings, key, fd: spawned.append(key) or 4242)
    settings = Settings(model=ModelSettings(store=str(project / "models")))

    def handle(when: str) -> int:
        return hook.handle(["series", str(KEY)], io.StringIO(alert(when=when)), settings)

    assert handle("2026-01-01T01:00:00.5Z") == 0
    assert handle("2026-01-01T01:00:00.5Z") == 0
    assert handle("2026-01-01T00:00:00Z") == 0
    assert spawned == [KEY]
    assert handle("2026-01-01T01:00:00.500000001Z") == 0
    assert spawned == [KEY, KEY]


def test_a_failed_retrain_lets_the_same_alert_retry(project, stalled_influx):
    """The stand-in model cannot be loaded, so the worker fails and forgets the alert it served."""
    env = {"CAPPLAN_INFLUXDB_URL": stalled_influx}
    assert run_hook(project, ["series", str(KEY)], alert(), **env).returncode == 0
    wait_for_log(project, r"retrain failed: ")
    settings = Settings(model=ModelSettings(store=str(project / "models")))
    deadline = time.monotonic() + 30
    while (fd := hook.try_lock(hook.lock_path(settings, KEY))) is None:  # until the worker has exited
        assert time.monotonic() < deadline, "worker still holds the lock"
        time.sleep(0.05)
    os.close(fd)
    assert run_hook(project, ["series", str(KEY)], alert(), **env).returncode == 0
    assert len(worker_pids(project)) == 2
    assert "already retrained" not in log_text(project)


def test_the_hook_imports_nothing_heavy_before_the_worker(project, stalled_influx):
    """Kapacitor waits for the hook: pandas, numpy, keras, jax or the InfluxDB client would cost it
    hundreds of milliseconds per alert, so none may load on the way to the spawned worker."""
    probe = (
        "import atexit, runpy, sys\n"
        "heavy = {'pandas', 'numpy', 'keras', 'jax', 'influxdb', 'scipy', 'statsmodels', 'sklearn'}\n"
        "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
        "sys.argv = ['capplan-retrain', *sys.argv[1:]]\n"
        "runpy.run_module('capplan.hook', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "series", str(KEY)],
        input=alert(),
        capture_output=True,
        text=True,
        cwd=project,
        env=hook_env(project, CAPPLAN_INFLUXDB_URL=stalled_influx),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert len(worker_pids(project)) == 1
    assert done.stdout.strip() == "[]"
