"""Settings built once at the edge and passed in: defaults < TOML file < ``CAPPLAN_*`` env < CLI flags.

This is the only module that reads configuration files or the environment, so everything else can be
tested with a plain ``Settings`` object.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from capplan import zones
from capplan.errors import ConfigError, DataError

DEFAULT_CONFIG_PATH = Path("capplan.toml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# InfluxQL aggregates a series may be read with (one value per model interval).
AGGREGATES = frozenset(
    {"mean", "median", "max", "min", "last", "first", "sum", "count", "mode", "spread", "stddev", "integral"}
)
# Aggregates whose value over the first part of a bucket estimates the whole bucket's; a sum, a count or
# a maximum over part of a bucket reads low.
PARTIAL_BUCKET_AGGREGATES = frozenset({"mean", "median", "mode", "first", "last"})
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
# Seconds per unit of InfluxDB and TICKscript durations; settings take s to w, TICKscript also u and ms.
UNIT_SECONDS = {"u": 1e-6, "µ": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str, where: str = "duration") -> timedelta:
    """InfluxDB-style duration (``30s``, ``5m``, ``1h``, ``7d``, ``2w``), the form TICK users write.

    Parsed here rather than by pandas, which reads ``m`` as minutes but deprecates ``d``."""
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{where}: {text!r} is not a duration like 30s, 5m, 1h, 7d or 2w")
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2).lower()])


def written(delta: timedelta) -> str:
    """``delta`` as a user writes one (1h, 15m, 8h35m, 1d, 250ms, -2h), not as pandas prints it ("0 days
    01:00:00", or "-1 days +22:00:00" for -2h)."""
    if delta < timedelta(0):
        return "-" + written(-delta)
    rest = round(delta.total_seconds() * 1000)  # in milliseconds, the finest a duration is written in
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, rest = divmod(rest, round(UNIT_SECONDS[unit] * 1000))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# A TICKscript duration literal as Kapacitor's lexer reads it; here rather than in capplan.tick (which
# imports this module) so a bad kapacitor.every is refused when the settings load, not by `alerts define`.
_TICK_DURATION = re.compile(r"^(\d+)(u|µ|ms|s|m|h|d|w)$")
# A task prefix that task ids keep as it is (capplan.tick slugs it): letters and digits at both ends.
_TASK_PREFIX = re.compile(r"[^\W_](?:[\w.-]*[^\W_])?")


def tick_seconds(text: str, where: str) -> float:
    """Seconds of a positive TICKscript duration (``10s``, ``5m``, ``1h``); Kapacitor takes ``0s`` in a
    script and only refuses it when the task starts, so zero is refused here too."""
    match = _TICK_DURATION.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{where}: {text!r} is not a positive TICKscript duration like 10s, 5m or 1h")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


ENV_PREFIX = "CAPPLAN_"


@dataclass(frozen=True)
class InfluxSettings:
    url: str = "http://127.0.0.1:8086"
    database: str = "telegraf"
    retention_policy: str = ""
    username: str = ""
    password: str = ""
    verify_ssl: bool = True
    timeout: float = 10.0

    def __post_init__(self) -> None:
        _check_server(self.url, self.timeout, "influxdb")


@dataclass(frozen=True)
class KapacitorSettings:
    url: str = "http://127.0.0.1:9092"
    username: str = ""
    password: str = ""
    verify_ssl: bool = True
    timeout: float = 10.0
    # Absolute path of the wrapper that venv-bootstrap writes; Kapacitor execs it without a shell.
    exec_wrapper: str = ""
    slack_channel: str = ""
    task_prefix: str = "capplan"
    # How often each alert task compares the newest real bucket with the forecast.
    every: str = "1h"
    # Alert when the real value leaves the forecast interval, or when |real - yhat| exceeds these
    # (absolute in the field's unit, relative as a fraction of |yhat|); 0 disables a threshold.
    abs_threshold: float = 0.0
    rel_threshold: float = 0.0

    def __post_init__(self) -> None:
        _check_server(self.url, self.timeout, "kapacitor")
        tick_seconds(self.every, "kapacitor.every")
        # Task ids are "<prefix>-<series>", and list, delete --all and the id checks match that start:
        # a prefix the id's slug would change ("capplan-", "team capplan") hid capplan's own tasks.
        if not _TASK_PREFIX.fullmatch(self.task_prefix) or "__" in self.task_prefix:
            raise ConfigError(
                f"kapacitor.task_prefix: {self.task_prefix!r} must be letters, digits and inner '.', '_' "
                "or '-', like capplan or team_capplan"
            )
        for name in ("abs_threshold", "rel_threshold"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:  # a negative one used to be taken silently as off
                raise ConfigError(f"kapacitor.{name}: must be 0 (off) or a positive number, got {value}")


@dataclass(frozen=True)
class ModelSettings:
    store: str = "models"
    interval: str = "1h"
    history: str = "28d"
    horizon: str = "7d"
    retrain_window: str = "7d"
    keep_versions: int = 5
    seed: int = 0
    lstm_epochs: int = 20
    # Retrains run at once by the exec hook's workers; more alerts queue. A worker with keras loaded
    # takes a core and about 600 MB, and one bad bucket can make every series' alert fire together.
    retrain_workers: int = 2
    # The clock the series' daily cycles follow: an IANA zone when load follows local office hours
    # across DST changes (see capplan.clock); times read and written stay UTC.
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        for name in ("interval", "history", "horizon", "retrain_window"):
            duration(getattr(self, name), f"model.{name}")
        try:
            zones.check(self.timezone)
        except DataError as exc:
            raise ConfigError(f"model.timezone: {exc}") from exc
        for name in ("keep_versions", "lstm_epochs", "retrain_workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name}: must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class SeriesSpec:
    """One measurement/field to forecast; every tag combination found under ``where`` is a series."""

    measurement: str
    field: str
    aggregate: str = "mean"
    primary_tag: str = "host"
    where: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"series {self.measurement}.{self.field}: aggregate {self.aggregate!r} is not one of "
                f"{', '.join(sorted(AGGREGATES))}"
            )


@dataclass(frozen=True)
class Threshold:
    """Capacity limit of one measurement's field, optionally only for series with given tags."""

    measurement: str
    field: str
    value: float
    tags: Mapping[str, str] = field(default_factory=dict)
    # "above" for usage that fills up (disk used_percent); "below" for headroom that runs out (mem available).
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction not in ("above", "below"):
            raise ConfigError(
                f"threshold {self.measurement}.{self.field}: direction must be 'above' or 'below'"
            )


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    file: str = ""

    def __post_init__(self) -> None:
        if self.level.upper() not in LOG_LEVELS:
            raise ConfigError(f"log.level: {self.level!r} is not one of {', '.join(LOG_LEVELS)}")


@dataclass(frozen=True)
class Settings:
    influxdb: InfluxSettings = field(default_factory=InfluxSettings)
    kapacitor: KapacitorSettings = field(default_factory=KapacitorSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    log: LogSettings = field(default_factory=LogSettings)
    series: tuple[SeriesSpec, ...] = ()
    thresholds: tuple[Threshold, ...] = ()

    def configures(self, measurement: str, field: str) -> bool:
        """Whether a [[series]] names this measurement's field (else a stored model of it is left over)."""
        return any((spec.measurement, spec.field) == (measurement, field) for spec in self.series)

    def spec_for(self, measurement: str, field: str) -> SeriesSpec:
        """The configured spec of a measurement's field, or the defaults for an ad-hoc series."""
        for spec in self.series:
            if (spec.measurement, spec.field) == (measurement, field):
                return spec
        return SeriesSpec(measurement=measurement, field=field)


_SECTIONS: dict[str, type] = {
    "influxdb": InfluxSettings,
    "kapacitor": KapacitorSettings,
    "model": ModelSettings,
    "log": LogSettings,
}


def _check_server(url: str, timeout: float, section: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"{section}.url: {url!r} is not an http(s) URL; write it like http://127.0.0.1:8086"
        )
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"{section}.timeout: must be a positive number of seconds, got {timeout}")


def _convert(value: Any, target: Any, where: str) -> Any:
    """Coerce a TOML or environment value to the field's declared scalar type."""
    if target is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if target in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if target is int and isinstance(value, int):
            return value
        try:
            return int(str(value).strip()) if target is int else float(value)
        except (TypeError, ValueError):
            pass
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not number.is_integer():  # keep_versions = 2.7 is not 2
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return int(number)
    if target is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid keys are {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        hint = hints[name]
        origin = typing.get_origin(hint)
        if origin in (Mapping, dict) or hint is Mapping:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}.{name}: expected a table of tag = value, got {value!r}")
            kwargs[name] = {str(k): str(v) for k, v in value.items()}
        elif origin in (types.UnionType, typing.Union):
            kwargs[name] = value
        else:
            kwargs[name] = _convert(value, hint, f"{where}.{name}")
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in kwargs]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    return cls(**kwargs)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML files are UTF-8
        raise ConfigError(f"{path}: invalid TOML ({exc}); fix the file or pass --config") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _paths_from(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in a config file mean the file's directory, not wherever the command runs: the CLI
    run from a home directory and the Kapacitor hook (run from the project) must find one store."""
    out = dict(data)
    for section, key in (("model", "store"), ("log", "file")):
        value = out.get(section, {}).get(key) if isinstance(out.get(section), dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            out[section] = {**out[section], key: str(base / value)}
    return out


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``CAPPLAN_INFLUXDB_URL=...`` -> ``{"influxdb": {"url": ...}}`` for the scalar sections."""
    out: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                out.setdefault(section, {})[rest[len(section) + 1 :]] = value
                break
    return out


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Merge the layers; ``path=None`` reads ``./capplan.toml`` only if it exists.

    ``overrides`` holds CLI flags as ``{section: {key: value}}``; ``None`` values are ignored so unset
    flags do not mask lower layers.
    """
    env = os.environ if env is None else env
    if path is None:
        env_path = env.get(ENV_PREFIX + "CONFIG")
        path = Path(env_path) if env_path else None
        data = (
            _read_toml(path)
            if path
            else (_read_toml(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else {})
        )
    else:
        if not path.exists():
            raise ConfigError(f"{path}: config file not found; create it or drop --config")
        data = _read_toml(path)

    if path is not None:
        data = _paths_from(data, path.resolve().parent)
    unknown = set(data) - set(_SECTIONS) - {"series", "thresholds"}
    if unknown:
        raise ConfigError(f"config: unknown section(s) {', '.join(sorted(unknown))}")
    for name in ("series", "thresholds"):
        if not isinstance(data.get(name, []), list):
            raise ConfigError(f"config: [{name}] must be written [[{name}]], once per entry (a TOML array)")
    for name in _SECTIONS:
        if not isinstance(data.get(name, {}), dict):
            raise ConfigError(f"config: {name} = ... must be a table: write [{name}] and its keys under it")

    layered: dict[str, dict[str, Any]] = {name: dict(data.get(name, {})) for name in _SECTIONS}
    for section, values in _env_overrides(env).items():
        known = {f.name for f in dataclasses.fields(_SECTIONS[section])}
        for key in sorted(set(values) - known):
            raise ConfigError(
                f"environment variable {ENV_PREFIX}{section.upper()}_{key.upper()}: {section} has no "
                f"setting {key!r}; valid ones are {', '.join(sorted(known))}"
            )
        layered[section].update(values)
    for section, values in (overrides or {}).items():
        layered[section].update({k: v for k, v in values.items() if v is not None})

    built = {name: _build(cls, layered[name], name) for name, cls in _SECTIONS.items()}
    series = tuple(_build(SeriesSpec, s, f"series[{i}]") for i, s in enumerate(data.get("series", [])))
    seen: set[tuple[str, str]] = set()
    for spec in series:
        pair = (spec.measurement, spec.field)
        if pair in seen:
            raise ConfigError(
                f"[[series]] {spec.measurement}.{spec.field} is configured twice; keep one (use `where` "
                "in it to narrow the tags)"
            )
        seen.add(pair)
    thresholds = tuple(
        _build(Threshold, t, f"thresholds[{i}]") for i, t in enumerate(data.get("thresholds", []))
    )
    return Settings(**built, series=series, thresholds=thresholds)
