"""Health checks behind ``capplan doctor``: each problem is one line with its fix."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from capplan import alerts, influx, pipeline
from capplan.config import Settings, duration
from capplan.errors import CapplanError, ConfigError
from capplan.kapacitor import KapacitorClient
from capplan.store import ModelStore
from capplan.tick import AlertWindow


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def offline_checks(settings: Settings) -> list[Check]:
    """What can be checked without servers: libraries, the Keras backend, the model store, the wrapper."""
    checks: list[Check] = []
    backend = os.environ.get("KERAS_BACKEND", "jax")
    try:
        importlib.import_module(backend)
        checks.append(Check("keras backend", True, f"{backend} importable"))
    except ImportError:
        checks.append(
            Check("keras backend", False, f"KERAS_BACKEND={backend} is not installed; pip install {backend}")
        )
    store = Path(settings.model.store)
    probe = store if store.exists() else store.parent if str(store.parent) else Path(".")
    if os.access(probe.resolve(), os.W_OK):
        checks.append(Check("model store", True, f"{store.resolve()} writable"))
    else:
        checks.append(Check("model store", False, f"{store.resolve()} not writable; set model.store"))
    checks.append(wrapper_check(settings))
    try:
        window = AlertWindow.of(settings.model.interval, settings.kapacitor.every)
    except ConfigError as exc:  # model.interval in a form train reads but TICKscript does not ("1H")
        checks.append(Check("alert schedule", False, str(exc)))
    else:
        if window.judges_filling_buckets:
            checks.append(Check("alert schedule", False, alerts.filling_bucket_warning(window)))
        else:
            checks.append(Check("alert schedule", True, f"every {window.every}, {window.interval} buckets"))
    checks.append(stored_check(settings))
    return checks


def stored_check(settings: Settings) -> Check:
    """Stored series no [[series]] names any more. A configuration without any [[series]] flags none
    (see ``pipeline.left_over``), and says so rather than calling them configured."""
    if not settings.series:
        stored = len(ModelStore.for_series(settings).list())
        checked = (
            f"so the {stored} stored series are not checked against any" if stored else "and none stored"
        )
        return Check(
            "stored series", True, f"no [[series]] configured, {checked}; train and forecast need one"
        )
    left = pipeline.left_over(settings)
    return Check("stored series", not left, pipeline.left_over_advice(left) if left else "all configured")


def wrapper_check(settings: Settings) -> Check:
    """The program Kapacitor's alerts exec, as seen from this machine."""
    wrapper = settings.kapacitor.exec_wrapper
    if not wrapper:
        return Check(
            "exec wrapper",
            False,
            "not set, so `capplan alerts render|define` refuse and nothing retrains on drift; run "
            "venv-bootstrap/bootstrap.sh and set kapacitor.exec_wrapper to the path it prints",
        )
    if not Path(wrapper).is_absolute():
        return Check("exec wrapper", False, f"{wrapper} is not absolute; Kapacitor execs without a shell")
    if not os.access(wrapper, os.X_OK):
        return Check(
            "exec wrapper", False, f"{wrapper} missing or not executable; run venv-bootstrap/bootstrap.sh"
        )
    return Check("exec wrapper", True, wrapper)


def server_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    client = influx.connect(settings.influxdb)
    try:
        version = influx.server_version(client, settings.influxdb)
        checks.append(Check("influxdb", True, f"{settings.influxdb.url} version {version}"))
        names = influx.database_names(client, settings.influxdb)
        if settings.influxdb.database in names:
            checks.append(Check("influxdb database", True, settings.influxdb.database))
            try:
                rp = influx.retention_policy(client, settings.influxdb)
                checks.append(Check("influxdb retention policy", True, rp))
                checks += _series_checks(client, settings)  # without the policy each would say so again
            except CapplanError as exc:
                checks.append(Check("influxdb retention policy", False, str(exc)))
        else:
            checks.append(
                Check(
                    "influxdb database",
                    False,
                    f"database {settings.influxdb.database!r} not found "
                    f"(have: {', '.join(names) or 'none'}); set influxdb.database or CREATE DATABASE it",
                )
            )
    except CapplanError as exc:
        checks.append(Check("influxdb", False, str(exc)))
    try:
        version = KapacitorClient(settings.kapacitor).version()
        checks.append(Check("kapacitor", True, f"{settings.kapacitor.url} version {version}"))
    except CapplanError as exc:
        checks.append(Check("kapacitor", False, str(exc)))
    return checks


def _series_checks(client, settings: Settings) -> list[Check]:
    """Each [[series]] finds data: a typo in a name otherwise only shows as a warning at train time."""
    lookback = pd.Timedelta(duration(settings.model.history))
    checks = []
    for spec in settings.series:
        name = f"[[series]] {spec.measurement} {spec.field}"
        try:
            found = influx.discover_series(client, settings.influxdb, spec, lookback=lookback)
        except CapplanError as exc:  # a timeout, a missing retention policy: this spec, not the others
            checks.append(Check(name, False, str(exc)))
            continue
        if found:
            checks.append(
                Check(name, True, f"{len(found)} series with data in the last {settings.model.history}")
            )
        else:
            checks.append(
                Check(
                    name,
                    False,
                    f"no series with data in the last {settings.model.history}; check the names with SHOW "
                    f"MEASUREMENTS and SHOW FIELD KEYS FROM {spec.measurement}",
                )
            )
    return checks
