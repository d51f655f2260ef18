"""The program Kapacitor's ``.exec()`` runs on an alert: validate, then hand the retrain to a worker.

Kapacitor runs a task's handlers one after another, so this must return at once: it reads the alert
JSON from stdin, acts only on CRITICAL, and starts a detached worker (own session, stdin /dev/null,
output to the retrain log) that runs :func:`capplan.pipeline.retrain`. A per-series flock taken here
and inherited by the worker makes a burst of alerts for one series produce one retrain: the lock is
held until the worker exits, and a hook that finds it held logs "already retraining" and exits 0.
A burst can outlast a quick retrain, so the lock file also records the time of the alert (Kapacitor's
time of the drifting bucket) that was handed off: a later hook with an alert no newer than that one
logs "already retrained" and exits 0; a failed retrain clears the record so the next alert retries.
Workers of different series queue for ``model.retrain_workers`` slots (flocks too), so a fleet-wide
burst of alerts runs a few retrains at a time instead of hundreds of keras processes at once.

Arguments (fixed when the task is defined, see capplan/tick.py)::

    series <series key>          per-series task: str(SeriesKey)
    group <measurement> <field>  grouped task: the tags come from the alert's data.series[0].tags

Nothing heavy (pandas, keras, the InfluxDB client) is imported before the worker starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from capplan import logs
from capplan.config import Settings, load_settings
from capplan.errors import CapplanError, DataError, StoreError
from capplan.serieskey import SeriesKey

log = logging.getLogger("capplan.hook")

LEVELS = frozenset({"OK", "INFO", "WARNING", "CRITICAL"})
EXIT_USAGE = 2
EXIT_MALFORMED = 3
# Kapacitor stamps an alert with its data's time, never later than now: a later one is hand-made or
# from a clock that jumped, and recorded as the newest alert it would make every real one look old.
FUTURE_TOLERANCE_SECONDS = 600
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
SLOT_POLL_SECONDS = 1.0
USAGE = "usage: capplan-retrain series <series key> | capplan-retrain group <measurement> <field>"


def log_path(settings: Settings) -> Path:
    """One log for hook and workers: ``log.file`` if configured, else ``retrain.log`` in the store."""
    return Path(settings.log.file) if settings.log.file else Path(settings.model.store) / "retrain.log"


def lock_path(settings: Settings, key: SeriesKey) -> Path:
    digest = hashlib.sha256(str(key).encode()).hexdigest()[:16]
    return Path(settings.model.store) / ".retrain-locks" / f"{digest}.lock"


def _setup_logging(settings: Settings, *, stderr: bool = False) -> None:
    """Everything to the retrain log; with ``stderr`` (the hook, not its worker, whose stderr is that
    log) errors also to stderr, which Kapacitor logs when the program exits non-zero."""
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s [{os.getpid()}] %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [handler]
    if stderr:
        errors = logging.StreamHandler(sys.stderr)
        errors.setLevel(logging.ERROR)
        errors.setFormatter(logging.Formatter("capplan-retrain: %(message)s"))
        handlers.append(errors)
    logs.configure(settings.log.level.upper(), handlers)


def alert_time_ns(text: Any) -> int:
    """Kapacitor's alert time (Go RFC3339Nano) as integer ns: Python's parser stops at microseconds."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        raise DataError(f"alert time {text!r} is not an RFC3339 time like 2026-01-01T00:00:00Z")
    base, fraction, zone = match.groups()
    try:  # the pattern admits 2026-02-30 and +25:00
        seconds = int(datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp())
    except ValueError as exc:
        raise DataError(f"alert time {text!r} is not a valid time ({exc})") from None
    return seconds * 10**9 + int((fraction or "").ljust(9, "0"))


def parse_alert(text: str) -> dict[str, Any]:
    """The alert object Kapacitor writes, checked for the fields the hook relies on."""
    try:
        alert = json.loads(text)
    except ValueError as exc:
        raise DataError(f"alert on stdin is not JSON ({exc})") from None
    if not isinstance(alert, dict):
        raise DataError("alert on stdin is not a JSON object")
    if alert.get("level") not in LEVELS:
        raise DataError(f"alert level {alert.get('level')!r} is not one of {', '.join(sorted(LEVELS))}")
    alert_time_ns(alert.get("time"))
    series = (alert.get("data") or {}).get("series") if isinstance(alert.get("data"), dict) else None
    if not isinstance(series, list) or not series or not isinstance(series[0], dict):
        raise DataError("alert has no data.series[0]")
    tags = series[0].get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise DataError("alert's data.series[0].tags is not an object of strings")
    return alert


def alert_tags(alert: dict[str, Any]) -> dict[str, str]:
    """The group's tags; an empty value is a tag the series does not have (InfluxDB stores no empty tag)."""
    return {k: v for k, v in (alert["data"]["series"][0].get("tags") or {}).items() if v != ""}


def series_of(argv: list[str], alert: dict[str, Any]) -> SeriesKey:
    """The series from the arguments, cross-checked against (or, grouped, completed by) the alert."""
    if len(argv) == 2 and argv[0] == "series":
        try:
            key = SeriesKey.parse(argv[1])
        except ValueError as exc:
            raise DataError(f"argument: {exc}") from None
        if alert_tags(alert) != key.tag_dict:
            raise DataError(f"alert tags {alert_tags(alert)} are not those of {key}; redefine the alerts")
        return key
    if len(argv) == 3 and argv[0] == "group":
        tags = alert_tags(alert)
        if not tags:
            raise DataError("grouped alert carries no tags; cannot tell which series drifted")
        return SeriesKey.of(argv[1], argv[2], tags)
    raise DataError(USAGE)


def known(settings: Settings, key: SeriesKey) -> bool:
    """Whether ``key`` has a stored model; StoreError if its current version cannot be read (older
    ones may be damaged: they are not what a retrain starts from)."""
    from capplan.store import ModelStore

    store = ModelStore.for_series(settings, key)
    if not store.stored(key):
        return False
    store.load(key)
    return True


def try_lock(path: Path) -> int | None:
    """An inheritable fd holding the series' flock, or None if a retrain already holds it."""
    import fcntl  # POSIX only; main() refuses other systems with a clear message first

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.set_inheritable(fd, True)
    return fd


def take_slot(settings: Settings) -> int:
    """Wait for one of the ``model.retrain_workers`` slots; returns the fd holding it (the slot is
    freed when the worker exits). Waiting costs no more than this light process."""
    directory = Path(settings.model.store) / ".retrain-slots"
    directory.mkdir(parents=True, exist_ok=True)
    waiting = False
    while True:
        for slot in range(settings.model.retrain_workers):
            fd = try_lock(directory / f"{slot}.lock")
            if fd is not None:
                return fd
        if not waiting:
            log.info("all %d retrain slots busy; waiting for one", settings.model.retrain_workers)
            waiting = True
        time.sleep(SLOT_POLL_SECONDS)


def claim(lock_fd: int, alert_ns: int) -> bool:
    """Record ``alert_ns`` as the alert being retrained for, unless one at least as new already was.
    Called with the flock held, so the read and the write cannot interleave with another hook's."""
    recorded = os.pread(lock_fd, 32, 0).strip()
    if recorded and int(recorded) >= alert_ns:
        return False
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, str(alert_ns).encode(), 0)
    return True


def spawn_worker(settings: Settings, key: SeriesKey, lock_fd: int) -> int:
    """Start the worker in its own session with the lock fd; returns its pid without waiting.

    ``posix_spawn`` rather than ``fork``: no copy of this process's state, and no fork of a possibly
    threaded parent. The worker's stdout/stderr go to the retrain log (tracebacks included)."""
    output = str(log_path(settings))
    return os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "capplan.hook", "_worker", str(lock_fd), str(key)],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def handle(argv: list[str], stdin: TextIO, settings: Settings) -> int:
    """Everything the hook does after logging is set up; returns the exit code."""
    started = time.monotonic()
    try:
        alert = parse_alert(stdin.read())
        key = series_of(argv, alert)
    except DataError as exc:
        log.error("rejected alert (args %s): %s", argv, exc)
        return EXIT_MALFORMED
    if alert["level"] != "CRITICAL":
        log.info("%s: %s alert %s, no retrain", key, alert["level"], alert.get("id", ""))
        return 0
    ahead = alert_time_ns(alert["time"]) - time.time_ns()
    if ahead > FUTURE_TOLERANCE_SECONDS * 10**9:
        log.error(
            "rejected alert (args %s): its time %s is %.0f minutes ahead of this machine's clock; Kapacitor "
            "stamps an alert with its data's time, so check the clocks of the data sources and of this "
            "machine (a test alert needs a past time). Recorded, it would make every real alert look old",
            argv,
            alert["time"],
            ahead / 60e9,
        )
        return EXIT_MALFORMED
    if not known(settings, key):
        log.error(
            "%s: no model in %s; train it first (`capplan train`), no retrain", key, settings.model.store
        )
        return StoreError.exit_code
    lock_fd = try_lock(lock_path(settings, key))
    if lock_fd is None:
        log.info("%s: already retraining, alert %s ignored", key, alert.get("id", ""))
        return 0
    try:
        if not claim(lock_fd, alert_time_ns(alert["time"])):
            log.info(
                "%s: already retrained for the alert at %s, alert %s ignored",
                key,
                alert["time"],
                alert.get("id", ""),
            )
            return 0
        pid = spawn_worker(settings, key, lock_fd)
    finally:
        os.close(lock_fd)  # the worker's copy keeps the lock
    log.info(
        "%s: CRITICAL, retrain handed to worker %d in %.0f ms", key, pid, (time.monotonic() - started) * 1e3
    )
    return 0


def work(lock_fd: int, key_text: str) -> int:
    """The detached worker: retrain with the series' lock held (released when this process exits)."""
    settings = load_settings()
    _setup_logging(settings)
    key = SeriesKey.parse(key_text)
    take_slot(settings)
    log.info("%s: retrain started (lock fd %d)", key, lock_fd)
    from capplan import pipeline

    try:
        result = pipeline.retrain(settings, key)
    except CapplanError as exc:
        log.error("%s: retrain failed: %s", key, exc)
        os.ftruncate(lock_fd, 0)  # forget the alert: the next one for this drift retries
        return exc.exit_code
    except Exception:
        log.exception("%s: retrain crashed", key)
        os.ftruncate(lock_fd, 0)
        return 1
    log.info(
        "%s: retrain done in %.1f s: v%d -> v%d%s, %s, %d forecast points",
        key,
        result.seconds,
        result.version_before,
        result.version_after,
        f" (kept previous: {result.why_kept})" if result.kept_previous else "",
        result.validation,
        result.forecast_points,
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if os.name != "posix":
        logging.basicConfig(stream=sys.stderr)
        log.error("capplan-retrain needs Linux or macOS (flock, posix_spawn); run Kapacitor's hook there")
        sys.exit(EXIT_USAGE)
    if len(argv) == 3 and argv[0] == "_worker":
        sys.exit(work(int(argv[1]), argv[2]))
    try:
        settings = load_settings()
        _setup_logging(settings, stderr=True)
    except (CapplanError, OSError) as exc:
        logging.basicConfig(stream=sys.stderr)  # Kapacitor logs the stderr of a failed exec
        log.error("capplan-retrain: %s", exc)
        sys.exit(EXIT_USAGE)
    try:
        code = handle(argv, sys.stdin, settings)
    except CapplanError as exc:  # e.g. a damaged model store: say so in the log, start nothing
        log.error("%s: %s", argv, exc)
        code = exc.exit_code
    sys.exit(code)


if __name__ == "__main__":
    main()
