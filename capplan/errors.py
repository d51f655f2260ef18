"""One exception family, so the CLI and the exec hook can turn any failure into one line and an exit code.

Each error says what is wrong and how to fix it; the exit code tells scripts which layer failed.
"""

from __future__ import annotations


def first_line(exc: Exception) -> str:
    """The first line of a library's error message, without pandas' multi-line parsing advice (which
    names keyword arguments a CLI user cannot pass)."""
    text = str(exc).split(" You might want")[0].strip()
    return text.splitlines()[0] if text else type(exc).__name__


class CapplanError(Exception):
    """Base of every error capplan raises on purpose."""

    exit_code = 1


class ConfigError(CapplanError):
    """The configuration file, an environment variable or a flag is invalid."""

    exit_code = 2


class DataError(CapplanError):
    """A series cannot be modelled as given (too short, constant, unordered timestamps, ...)."""

    exit_code = 3


class ModelError(CapplanError):
    """A model could not be fitted, loaded or used."""

    exit_code = 4


class StoreError(CapplanError):
    """The model store refused an operation (missing series, lock held, corrupt version)."""

    exit_code = 5


class InfluxError(CapplanError):
    """InfluxDB was unreachable or rejected a query or a write."""

    exit_code = 6


class InfluxUnreachable(InfluxError):
    """No connection to InfluxDB (refused, reset, unresolvable): every other series would fail alike."""


class InfluxTimeout(InfluxError):
    """InfluxDB took longer than ``influxdb.timeout`` to answer: a heavy query, or a hung server."""


class KapacitorError(CapplanError):
    """Kapacitor was unreachable or rejected a request; carries the server's own message."""

    exit_code = 7
