"""Kapacitor's HTTP API (``/kapacitor/v1``): transport and error mapping in one place.

Every non-2xx answer becomes a :class:`KapacitorError` that carries the method, the URL and the
server's own message, because that message (a TICKscript compile error, say) is what the user needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from capplan.config import KapacitorSettings
from capplan.errors import KapacitorError

API = "/kapacitor/v1"


@dataclass
class KapacitorClient:
    settings: KapacitorSettings

    def __post_init__(self) -> None:
        self._session = requests.Session()
        if self.settings.username:
            self._session.auth = (self.settings.username, self.settings.password)
        self._session.verify = self.settings.verify_ssl

    @property
    def base_url(self) -> str:
        return self.settings.url.rstrip("/") + API

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.base_url + path
        try:
            response = self._session.request(method, url, timeout=self.settings.timeout, **kwargs)
        except requests.RequestException as exc:
            raise KapacitorError(
                f"Kapacitor unreachable at {self.settings.url} ({type(exc).__name__}); "
                "start it or set kapacitor.url / CAPPLAN_KAPACITOR_URL"
            ) from None
        if response.status_code == 401:
            raise KapacitorError(
                f"{method} {url}: authentication failed; set kapacitor.username and kapacitor.password"
            )
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text
            raise KapacitorError(f"{method} {url}: HTTP {response.status_code}: {message.strip()}")
        return response

    def version(self) -> str:
        """Server version from ``/ping``; an empty header still proves the server answered."""
        response = self.request("GET", "/ping")
        return response.headers.get("X-Kapacitor-Version", "") or "unknown"
