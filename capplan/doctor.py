"""Health checks behind ``capplan doctor``: each problem is one line with its fix."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from capplan import influx
from capplan.config import Settings
from capplan.errors import CapplanError
from capplan.kapacitor import KapacitorClient


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
    wrapper = settings.kapacitor.exec_wrapper
    if not wrapper:
        checks.append(
            Check(
                "exec wrapper",
                False,
                "not set, so `capplan alerts render|define` refuse and nothing retrains on drift; run "
                "venv-bootstrap/bootstrap.sh and set kapacitor.exec_wrapper to the path it prints",
            )
        )
    elif not Path(wrapper).is_absolute():
        checks.append(
            Check("exec wrapper", False, f"{wrapper} is not absolute; Kapacitor execs without a shell")
        )
    elif not os.access(wrapper, os.X_OK):
        checks.append(
            Check(
                "exec wrapper", False, f"{wrapper} missing or not executable; run venv-bootstrap/bootstrap.sh"
            )
        )
    else:
        checks.append(Check("exec wrapper", True, wrapper))
    return checks


def server_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    client = influx.connect(settings.influxdb)
    try:
        version = influx.server_version(client, settings.influxdb)
        checks.append(Check("influxdb", True, f"{settings.influxdb.url} version {version}"))
        names = influx.database_names(client, settings.influxdb)
        if settings.influxdb.database in names:
            checks.append(Check("influxdb database", True, settings.influxdb.database))
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
