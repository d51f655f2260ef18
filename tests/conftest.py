"""Fixtures for the real-server tests: one InfluxDB and one Kapacitor per test session, a fresh
database per test, and a Slack stand-in that records what Kapacitor POSTs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

from capplan.config import InfluxSettings, KapacitorSettings
from tests import servers


@pytest.fixture(scope="session")
def _server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def slack() -> Iterator[servers.SlackRecorder]:
    recorder = servers.SlackRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="session")
def influxdb_server(_server_root: Path) -> Iterator[servers.Server]:
    server = servers.start_influxdb(_server_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kapacitor_server(
    _server_root: Path, influxdb_server: servers.Server, slack: servers.SlackRecorder
) -> Iterator[servers.Server]:
    server = servers.start_kapacitor(_server_root, influxdb_server.url, slack.url)
    yield server
    server.stop()


@pytest.fixture
def influx_settings(influxdb_server: servers.Server) -> Iterator[InfluxSettings]:
    """Settings pointing at a fresh, empty database that is dropped after the test."""
    from capplan import influx

    settings = InfluxSettings(url=influxdb_server.url, database=f"test_{uuid.uuid4().hex[:12]}")
    client = influx.connect(settings)
    client.create_database(settings.database)
    yield settings
    client.drop_database(settings.database)
    client.close()


@pytest.fixture
def influx_client(influx_settings: InfluxSettings):
    from capplan import influx

    client = influx.connect(influx_settings)
    yield client
    client.close()


@pytest.fixture
def kapacitor_url(kapacitor_server: servers.Server) -> str:
    return kapacitor_server.url


@pytest.fixture
def kapacitor_settings(kapacitor_url: str) -> KapacitorSettings:
    return KapacitorSettings(url=kapacitor_url)


@pytest.fixture(autouse=True)
def _clear_slack(request: pytest.FixtureRequest) -> None:
    if "slack" in request.fixturenames:
        request.getfixturevalue("slack").posts.clear()
