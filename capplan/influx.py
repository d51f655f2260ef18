"""InfluxDB 1.x adapter: the only module that talks to the ``influxdb`` client.

The 1.x client is archived upstream; keeping it behind this module lets a 2.x/3.x client sit beside it.
Its ``InfluxDBClient`` is not used: under pandas 3 it writes microsecond-resolution indexes as if they
were nanoseconds (points land in 1970), so points go through the plain client with integer-ns times.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from capplan.config import InfluxSettings
from capplan.errors import InfluxError


def connect(settings: InfluxSettings) -> InfluxDBClient:
    """Client for ``settings.url`` (http or https, optional path prefix), bound to the database."""
    parts = urlsplit(settings.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InfluxError(f"influxdb.url {settings.url!r} is not an http(s) URL; e.g. http://127.0.0.1:8086")
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
    except (requests.RequestException, InfluxDBClientError, InfluxDBServerError) as exc:
        raise InfluxError(
            f"InfluxDB unreachable at {settings.url} ({type(exc).__name__}); "
            "start it or set influxdb.url / CAPPLAN_INFLUXDB_URL"
        ) from None


def database_names(client: InfluxDBClient, settings: InfluxSettings) -> list[str]:
    """Database names; raises a clear error on bad credentials (``SHOW DATABASES`` needs auth)."""
    try:
        return [row["name"] for row in client.get_list_database()]
    except InfluxDBClientError as exc:
        if exc.code in (401, 403):
            raise InfluxError(
                f"InfluxDB at {settings.url} refused the credentials ({exc.content.strip()}); "
                "set influxdb.username and influxdb.password"
            ) from None
        raise InfluxError(f"InfluxDB at {settings.url}: {exc.content.strip()}") from None
    except (requests.RequestException, InfluxDBServerError) as exc:
        raise InfluxError(f"InfluxDB unreachable at {settings.url} ({type(exc).__name__})") from None
