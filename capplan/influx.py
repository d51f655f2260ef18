"""InfluxDB 1.x adapter: the only module that talks to the ``influxdb`` client.

The 1.x client is archived upstream; keeping it behind this module lets a 2.x/3.x client sit beside it.
Its ``InfluxDBClient`` is not used: under pandas 3 it writes microsecond-resolution indexes as if they
were nanoseconds (points land in 1970), so points go through the plain client with integer-ns times.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from capplan import influxql as q
from capplan import lineprotocol as lp
from capplan.config import InfluxSettings, SeriesSpec
from capplan.errors import InfluxError, InfluxTimeout, InfluxUnreachable
from capplan.serieskey import MODEL_TAG, SeriesKey

log = logging.getLogger(__name__)

_FAILURES = (InfluxDBClientError, InfluxDBServerError, requests.RequestException)


def connect(settings: InfluxSettings) -> InfluxDBClient:
    """Client for ``settings.url`` (http or https, optional path prefix), bound to the database."""
    parts = urlsplit(settings.url)  # checked as an http(s) URL with a host by InfluxSettings
    return InfluxDBClient(
        host=parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 8086),
        path=parts.path.strip("/"),
        ssl=parts.scheme == "https",
        verify_ssl=settings.verify_ssl,
        username=settings.username or None,
        password=settings.password or None,
        database=settings.database,
        timeout=settings.timeout,
    )


def server_version(client: InfluxDBClient, settings: InfluxSettings) -> str:
    try:
        return client.ping()
    except _FAILURES as exc:
        raise _error(exc, settings, "the ping") from None


def database_names(client: InfluxDBClient, settings: InfluxSettings) -> list[str]:
    """Database names; a clear error on bad credentials (``SHOW DATABASES`` needs auth)."""
    try:
        return [row["name"] for row in client.get_list_database()]
    except _FAILURES as exc:
        raise _error(exc, settings, "SHOW DATABASES") from None


def _error(exc: Exception, settings: InfluxSettings, doing: str) -> InfluxError:
    """The one place client failures become a one-line error: what failed, where, and what to change."""
    if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectionError):
        return InfluxTimeout(
            f"InfluxDB at {settings.url} did not answer {doing} within influxdb.timeout "
            f"({settings.timeout:g} s); raise it for heavy queries, or check that the server is not hung"
        )
    if isinstance(exc, requests.ConnectionError):
        return InfluxUnreachable(
            f"InfluxDB unreachable at {settings.url} during {doing} ({type(exc).__name__}); "
            "start it or set influxdb.url / CAPPLAN_INFLUXDB_URL"
        )
    if isinstance(exc, requests.RequestException):  # a broken answer (chunking, decoding)
        return InfluxError(f"InfluxDB at {settings.url} broke off {doing} ({type(exc).__name__}: {exc})")
    # 1.x answers some client mistakes (unknown retention policy on write) with a 500
    content = str(getattr(exc, "content", exc)).strip()
    if getattr(exc, "code", None) in (401, 403):
        return InfluxError(
            f"InfluxDB at {settings.url} refused the credentials for {doing} ({content}); "
            "set influxdb.username and influxdb.password"
        )
    if "database not found" in content:
        return InfluxError(
            f"InfluxDB at {settings.url}: database {settings.database!r} not found; "
            "create it or set influxdb.database"
        )
    if "retention policy not found" in content:
        return InfluxError(
            f"InfluxDB at {settings.url}: retention policy {settings.retention_policy!r} not found in "
            f"{settings.database!r}; create it or set influxdb.retention_policy"
        )
    return InfluxError(f"InfluxDB at {settings.url} rejected {doing}: {content}")


def _run(
    client: InfluxDBClient,
    settings: InfluxSettings,
    query: str,
    params: dict[str, str] | None = None,
    *,
    method: str = "GET",
):
    """Run one statement; every failure becomes a one-line InfluxError naming the server and the cause."""
    log.debug("influxql: %s %s", query, params or "")
    try:
        return client.query(
            query, bind_params=params or None, epoch="ns", database=settings.database, method=method
        )
    except _FAILURES as exc:
        raise _error(exc, settings, "a query") from None


def retention_policy(client: InfluxDBClient, settings: InfluxSettings) -> str:
    """``influxdb.retention_policy`` if the database has it (InfluxError if not: a Kapacitor task naming
    a missing policy is accepted and alerts on nothing), else, when it is empty, the database's default,
    which train reads and writes, so Kapacitor tasks can name it (they cannot say "the default")."""
    result = _run(client, settings, f"SHOW RETENTION POLICIES ON {q.ident(settings.database)}")
    rows = list(result.get_points())
    if settings.retention_policy:
        if any(row["name"] == settings.retention_policy for row in rows):
            return settings.retention_policy
        have = ", ".join(str(row["name"]) for row in rows) or "none"
        raise InfluxError(
            f"InfluxDB at {settings.url}: database {settings.database!r} has no retention policy "
            f"{settings.retention_policy!r} (have: {have}); set influxdb.retention_policy"
        )
    names = [row["name"] for row in rows if row.get("default")]
    if not names:
        raise InfluxError(
            f"InfluxDB at {settings.url}: database {settings.database!r} has no default retention policy; "
            "set influxdb.retention_policy"
        )
    return str(names[0])


def _tag_keys(client: InfluxDBClient, settings: InfluxSettings, measurement: str) -> list[str]:
    result = _run(
        client,
        settings,
        f"SHOW TAG KEYS FROM {q.source(settings.database, settings.retention_policy, measurement)}",
    )
    return [row["tagKey"] for row in result.get_points()]


def _series_filter(
    client: InfluxDBClient,
    settings: InfluxSettings,
    measurement: str,
    tags: dict[str, str],
    ignore: tuple[str, ...] = (),
) -> list[str]:
    """Conditions selecting exactly this tag set: the series' tags equal, every other tag key empty."""
    absent = tuple(k for k in _tag_keys(client, settings, measurement) if k not in tags and k not in ignore)
    return q.tag_conditions(tags, absent)


def discover_series(
    client: InfluxDBClient,
    settings: InfluxSettings,
    spec: SeriesSpec,
    *,
    lookback: pd.Timedelta,
) -> list[SeriesKey]:
    """Every tag combination of ``spec`` that has data in the last ``lookback`` (``GROUP BY *``)."""
    params = {f"w{i}": v for i, v in enumerate(spec.where.values())}
    where = [f"{q.ident(k)} = $w{i}" for i, k in enumerate(spec.where)]
    where.append(f"time > now() - {q.duration(lookback)}")
    source = q.source(settings.database, settings.retention_policy, spec.measurement)
    query = f"SELECT count({q.ident(spec.field)}) FROM {source} WHERE {' AND '.join(where)} GROUP BY *"
    result = _run(client, settings, query, params)
    keys = {
        SeriesKey.of(spec.measurement, spec.field, {k: v for k, v in (tags or {}).items() if v != ""})
        for (_, tags), _points in result.items()
    }
    return sorted(keys)


def read_series(
    client: InfluxDBClient,
    settings: InfluxSettings,
    key: SeriesKey,
    *,
    aggregate: str,
    every: pd.Timedelta,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.Series:
    """``aggregate(field)`` per ``every`` bucket in [start, end) of exactly this tag set (a series with
    an extra tag is another series); empty buckets are NaN, never 0."""
    where = _series_filter(client, settings, key.measurement, key.tag_dict)
    where += [f"time >= {q.time_literal(start)}", f"time < {q.time_literal(end)}"]
    query = (
        f'SELECT {q.aggregate(aggregate)}({q.ident(key.field)}) AS "value" '
        f"FROM {q.source(settings.database, settings.retention_policy, key.measurement)} "
        f"WHERE {' AND '.join(where)} GROUP BY time({q.duration(every)})"
    )
    rows = list(_run(client, settings, query).get_points())
    index = pd.DatetimeIndex(pd.to_datetime([r["time"] for r in rows], unit="ns", utc=True), name="time")
    values = pd.to_numeric(
        pd.Series([r["value"] for r in rows], index=index, dtype="object"), errors="coerce"
    )
    return values.astype(float).rename(str(key))


def write_points(client: InfluxDBClient, settings: InfluxSettings, points: list[dict[str, Any]]) -> None:
    """Write dict points (``measurement``, ``tags``, ``fields``, integer-ns ``time``) as line protocol
    escaped for the 1.x server (see capplan.lineprotocol), through the client's write API."""
    try:
        lines = [lp.line(p["measurement"], p.get("tags", {}), p["fields"], p["time"]) for p in points]
    except ValueError as exc:
        raise InfluxError(f"cannot write to InfluxDB: {exc}") from None
    try:
        client.write_points(
            lines,
            time_precision="n",
            database=settings.database,
            retention_policy=settings.retention_policy or None,
            batch_size=5000,
            protocol="line",
        )
    except _FAILURES as exc:
        raise _error(exc, settings, "the write") from None


def write_forecast(
    client: InfluxDBClient, settings: InfluxSettings, key: SeriesKey, frame: pd.DataFrame, model: str
) -> int:
    """Write ``pred_<measurement>`` points (series tags + ``capplan_field`` + ``capplan_model``), then
    retire the old run's leftovers. The field tag keeps two fields of one measurement (usage_user,
    usage_system of one host) from overwriting each other's forecasts.

    Points are overwritten one by one (same series, same time). Only after the write succeeded are the
    old run's points removed: those beyond the new horizon, and those in the new range that carry another
    model tag (a model change must not leave two forecasts overlapping).

    InfluxDB 1.x DELETE has no retention-policy clause: it removes matching points from every RP of the
    database. Accepted, because ``pred_*`` measurements are capplan's own and one deployment writes them
    to one RP; the points written here go to ``settings.retention_policy``.
    """
    if frame.empty:
        raise ValueError(f"{key}: empty forecast; nothing to write (the stored forecast is left as it is)")
    measurement = f"pred_{key.measurement}"
    tags = {**key.forecast_tags(), MODEL_TAG: model}
    times = frame.index.tz_convert("UTC") if frame.index.tz is not None else frame.index.tz_localize("UTC")
    points = [
        {
            "measurement": measurement,
            "tags": tags,
            "time": int(t.value),
            "fields": {
                "yhat": float(row.yhat),
                "yhat_lower": float(row.yhat_lower),
                "yhat_upper": float(row.yhat_upper),
            },
        }
        for t, row in zip(times, frame.itertuples(index=False), strict=True)
    ]
    write_points(client, settings, points)
    exact = _series_filter(client, settings, measurement, key.forecast_tags(), ignore=(MODEL_TAG,))
    target = q.ident(measurement)
    first, last = q.time_literal(times[0]), q.time_literal(times[-1])
    beyond_horizon = [*exact, f"time > {last}"]
    other_models = [
        *exact,
        f"{q.ident(MODEL_TAG)} != {q.literal(model)}",
        f"time >= {first}",
        f"time <= {last}",
    ]
    for conditions in (beyond_horizon, other_models):
        _run(client, settings, f"DELETE FROM {target} WHERE {' AND '.join(conditions)}", method="POST")
    return len(points)


def read_forecast(
    client: InfluxDBClient, settings: InfluxSettings, key: SeriesKey, *, since: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The stored forecast of one series (any model tag), oldest first.

    Earlier runs' points before a newer run's start are kept (what was predicted for the past, next to
    what happened); ``since`` (e.g. the last training time) leaves them out."""
    measurement = f"pred_{key.measurement}"
    columns = ["yhat", "yhat_lower", "yhat_upper"]
    exact = _series_filter(client, settings, measurement, key.forecast_tags(), ignore=(MODEL_TAG,))
    source = q.source(settings.database, settings.retention_policy, measurement)
    if since is not None:
        exact.append(f"time >= {q.time_literal(since)}")
    query = f'SELECT "yhat", "yhat_lower", "yhat_upper" FROM {source}'
    if exact:
        query += f" WHERE {' AND '.join(exact)}"
    rows = list(_run(client, settings, query).get_points())
    index = pd.DatetimeIndex(pd.to_datetime([r["time"] for r in rows], unit="ns", utc=True), name="time")
    return pd.DataFrame({c: [float(r[c]) for r in rows] for c in columns}, index=index).sort_index()


def write_capacity(
    client: InfluxDBClient,
    settings: InfluxSettings,
    key: SeriesKey,
    fields: dict[str, float | int | str],
    when: pd.Timestamp,
) -> None:
    """One ``capacity_<measurement>`` point with the series' tags plus ``capplan_field`` (several fields
    of one measurement can have thresholds)."""
    write_points(
        client,
        settings,
        [
            {
                "measurement": f"capacity_{key.measurement}",
                "tags": key.forecast_tags(),
                "time": int(pd.Timestamp(when).value),
                "fields": dict(fields),
            }
        ],
    )
