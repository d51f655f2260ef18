"""Start the real InfluxDB 1.x and Kapacitor the tests run against: loopback only, free ports, data in
a temporary directory, stopped by PID.  Also a stand-in for Slack's webhook endpoint."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

KAPACITOR_VERSION = os.environ.get("KAPACITOR_VERSION", "1.5.9")


def kapacitor_bin_dir() -> Path:
    cache = os.environ.get("CAPPLAN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "capplan"
    )
    return Path(cache) / f"kapacitor-{KAPACITOR_VERSION}"


def _die_with_parent() -> None:
    """Linux: SIGTERM the server if pytest itself is killed, so no server outlives its test run."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_ready(server: Server, ping: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start-up:\n{server.log.read_text()[-3000:]}")
        try:
            if requests.get(server.url + ping, timeout=1).status_code == 204:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} not ready after {timeout}s:\n{server.log.read_text()[-3000:]}")


def start_influxdb(workdir: Path) -> Server:
    influxd = shutil.which("influxd")
    if influxd is None:
        raise RuntimeError(
            "influxd not found: run `make test-servers` (apt-get install -y influxdb influxdb-client)"
        )
    port = free_port()
    root = workdir / "influxdb"
    root.mkdir(parents=True, exist_ok=True)  # an existing root restarts on the same data
    conf = root / "influxdb.conf"
    conf.write_text(
        f"""reporting-enabled = false
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[ifql]
  enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
"""
    )
    log = root / "influxd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [influxd, "run", "-config", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    server = Server("influxd", f"http://127.0.0.1:{port}", process, log)
    _wait_ready(server, "/ping")
    return server


def start_kapacitor(workdir: Path, influx_url: str, slack_url: str) -> Server:
    binary = kapacitor_bin_dir() / "kapacitord"
    if not binary.exists():
        raise RuntimeError(f"{binary} not found: run `make test-servers` (scripts/build-kapacitor.sh)")
    port = free_port()
    root = workdir / "kapacitor"
    root.mkdir(parents=True)
    conf = root / "kapacitor.conf"
    conf.write_text(
        f"""hostname = "127.0.0.1"
data_dir = "{root}"
skip-config-overrides = true
default-retention-policy = ""
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  auth-enabled = false
[replay]
  dir = "{root}/replay"
[storage]
  boltdb = "{root}/kapacitor.db"
[task]
  dir = "{root}/tasks"
  snapshot-interval = "60s"
[load]
  enabled = false
[logging]
  file = "STDERR"
  level = "INFO"
[reporting]
  enabled = false
[stats]
  enabled = false
[[influxdb]]
  enabled = true
  default = true
  name = "test"
  urls = ["{influx_url}"]
  timeout = "10s"
  disable-subscriptions = true
  startup-timeout = "30s"
[[slack]]
  enabled = true
  default = true
  workspace = "test"
  url = "{slack_url}"
  channel = "#capplan-test"
  username = "kapacitor"
"""
    )
    log = root / "kapacitord.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-config", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    server = Server("kapacitord", f"http://127.0.0.1:{port}", process, log)
    _wait_ready(server, "/kapacitor/v1/ping")
    return server


@dataclass
class SlackRecorder:
    """An HTTP server standing in for Slack's incoming webhook: it keeps every JSON body POSTed."""

    url: str = ""
    posts: list[dict] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> SlackRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    recorder.posts.append(json.loads(body))
                except ValueError:
                    recorder.posts.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/services/T/B/X"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def wait_for(self, predicate, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [p for p in list(self.posts) if predicate(p)]
            if found:
                return found
            time.sleep(0.1)
        return []

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
