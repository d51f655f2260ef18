"""Kapacitor's HTTP API (``/kapacitor/v1``): transport and error mapping in one place.

Every non-2xx answer becomes a :class:`KapacitorError` that carries the method, the URL and the
server's own message, because that message (a TICKscript compile error, say) is what the user needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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

    def request(
        self, method: str, path: str, *, expected: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        """Send one request; an error status not in ``expected`` becomes a KapacitorError."""
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
        if response.status_code >= 400 and response.status_code not in expected:
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

    # --- tasks -------------------------------------------------------------------------------------

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        """The task as Kapacitor reports it (``status``, ``executing``, ``error``...), or None if absent."""
        response = self.request("GET", f"/tasks/{quote(task_id, safe='')}", expected=(404,))
        return None if response.status_code == 404 else response.json()

    def create_task(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/tasks", json=task).json()

    def update_task(self, task_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/tasks/{quote(task_id, safe='')}", json=changes).json()

    def delete_task(self, task_id: str) -> None:
        """Idempotent: Kapacitor answers 204 for an absent task too."""
        self.request("DELETE", f"/tasks/{quote(task_id, safe='')}")

    def list_tasks(self, pattern: str) -> list[dict[str, Any]]:
        """Every task whose id matches the glob ``pattern``, following Kapacitor's paging."""
        tasks: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET",
                "/tasks",
                params={"pattern": pattern, "offset": len(tasks), "limit": 100, "dot-view": "labels"},
            ).json()["tasks"]
            tasks += page
            if len(page) < 100:
                return tasks

    def service_test(self, service: str, options: dict[str, Any]) -> dict[str, Any]:
        """``POST /service-tests/<service>``: ``{"success": bool, "message": str}``."""
        return self.request("POST", f"/service-tests/{quote(service, safe='')}", json=options).json()
