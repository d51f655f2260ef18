"""Drift alerts as Kapacitor tasks: render them for a set of series, and deploy them idempotently.

The caller says which series exist (``list[SeriesKey]`` plus their :class:`SeriesSpec`); nothing here
queries InfluxDB. ``define`` first has Kapacitor compile every script under a scratch id, so a script
Kapacitor rejects stops the whole run before any real task is touched.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from capplan.config import PARTIAL_BUCKET_AGGREGATES, SeriesSpec, Settings
from capplan.errors import ConfigError, KapacitorError
from capplan.kapacitor import KapacitorClient
from capplan.serieskey import SeriesKey
from capplan.tick import AlertWindow, RenderedTask, render_grouped, render_series

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskStatus:
    id: str
    status: str
    executing: bool
    error: str


def filling_bucket_warning(window: AlertWindow) -> str:
    """Why a run more often than the model interval misfires even for a mean: the minutes of the hour
    so far are not the hour (a rising daily cycle's first 20 minutes average below it, and fewer
    samples vary more), yet they are judged against the whole hour's interval. On a real server, every
    1m put 9 of 18 normal series into CRITICAL within minutes, each starting a retrain."""
    return (
        f"alerts every {window.every} judge the {window.interval} bucket still filling against a whole "
        f"bucket's interval, which raises false alerts and retrains; set kapacitor.every to "
        f"{window.interval} unless testing"
    )


def render(
    settings: Settings,
    spec: SeriesSpec,
    keys: Sequence[SeriesKey],
    *,
    grouped: bool = False,
    every: str | None = None,
    period: str | None = None,
) -> list[RenderedTask]:
    """Tasks for ``keys`` (all of ``spec``'s measurement and field): one per series, or one in all.

    The tag keys to filter and group on are those the given series carry, so the caller must pass every
    series of the measurement it knows, not a subset, for the exact-tag-set filter to hold.
    """
    keys = [k for k in keys if (k.measurement, k.field) == (spec.measurement, spec.field)]
    tag_keys = sorted({tag for key in keys for tag, _ in key.tags})
    window = AlertWindow.of(settings.model.interval, every or settings.kapacitor.every, period)
    if window.judges_filling_buckets and spec.aggregate not in PARTIAL_BUCKET_AGGREGATES:
        # Each run judges the bucket still filling: a part-bucket sum reads low, so every series would
        # alert (and retrain) at once, every run.
        raise ConfigError(
            f"{spec.measurement} {spec.field}: alerts every {window.every} judge a {window.interval} bucket "
            f"before it is complete, and a part-bucket {spec.aggregate} reads low; set kapacitor.every to "
            f"{window.interval} or longer, or use a mean-like aggregate"
        )
    if window.judges_filling_buckets:
        log.warning("%s %s: %s", spec.measurement, spec.field, filling_bucket_warning(window))
    common = {
        "aggregate": spec.aggregate,
        "tag_keys": tag_keys,
        "influx": settings.influxdb,
        "kapacitor": settings.kapacitor,
        "window": window,
    }
    if grouped:
        return (
            [render_grouped(spec.measurement, spec.field, where=dict(spec.where), **common)] if keys else []
        )
    return [render_series(key, **common) for key in keys]


def _payload(task: RenderedTask, status: str) -> dict:
    return {
        "type": "batch",
        "dbrps": [{"db": task.database, "rp": task.retention_policy}],
        "script": task.script,
        "status": status,
    }


def _validate(client: KapacitorClient, tasks: Sequence[RenderedTask]) -> None:
    """Kapacitor compiles a script when a task is created, even a disabled one: try each under a scratch
    id and remove it again, so a script it rejects leaves every real task as it was."""
    for task in tasks:
        scratch = "capplan-check-" + hashlib.sha256(task.id.encode()).hexdigest()[:16]
        client.delete_task(scratch)
        try:
            client.create_task({"id": scratch, **_payload(task, "disabled")})
        except KapacitorError as exc:
            raise KapacitorError(f"Kapacitor rejected the script of {task.id}: {exc}") from None
        finally:
            client.delete_task(scratch)


def _replace(client: KapacitorClient, task: RenderedTask, old: dict[str, Any]) -> None:
    """PATCH the script, then disable + enable (an enabled task is not reloaded by a script change).
    If Kapacitor refuses to start the new script, the old script and status are put back."""
    payload = _payload(task, "enabled")
    try:
        client.update_task(task.id, {k: payload[k] for k in ("type", "dbrps", "script")})
        client.update_task(task.id, {"status": "disabled"})
        client.update_task(task.id, {"status": "enabled"})
    except KapacitorError:
        client.update_task(task.id, {k: old[k] for k in ("type", "dbrps", "script")})
        client.update_task(task.id, {"status": "disabled"})  # the restored script is loaded again...
        if old["status"] == "enabled":
            client.update_task(task.id, {"status": "enabled"})  # ...and started, if it ran before
        raise


def define(client: KapacitorClient, tasks: Sequence[RenderedTask]) -> list[tuple[str, str]]:
    """Create each task enabled, or update an existing one and reload it; ``[(id, "created"|"updated")]``.

    Every script is compiled by Kapacitor before any task changes. A task that compiles but cannot start
    (e.g. a database not in its dbrps) is undone and stops the run with Kapacitor's message.
    """
    _validate(client, tasks)
    done = []
    for task in tasks:
        old = client.get_task(task.id)
        if old is None:
            try:
                client.create_task({"id": task.id, **_payload(task, "enabled")})
            except KapacitorError:
                client.delete_task(task.id)
                raise
            done.append((task.id, "created"))
        else:
            _replace(client, task, old)
            done.append((task.id, "updated"))
        log.info("%s %s", done[-1][1], task.id)
    return done


def set_status(client: KapacitorClient, task_ids: Iterable[str], enabled: bool, *, prefix: str) -> None:
    """Enable or disable capplan's tasks; a foreign or unknown id is an error before any is changed."""
    for task_id in _existing(client, task_ids, prefix):
        client.update_task(task_id, {"status": "enabled" if enabled else "disabled"})


def delete(client: KapacitorClient, task_ids: Iterable[str], *, prefix: str) -> None:
    """Delete capplan's tasks; a foreign or unknown id is an error before anything is deleted."""
    for task_id in _existing(client, task_ids, prefix):
        client.delete_task(task_id)


def _existing(client: KapacitorClient, task_ids: Iterable[str], prefix: str) -> list[str]:
    """The ids, once each is known to be capplan's (``prefix-``, as :func:`status` lists them) and to
    exist: Kapacitor may run other people's tasks, which capplan must not change by a mistyped id."""
    task_ids = list(task_ids)
    foreign = [t for t in task_ids if not t.startswith(f"{prefix}-")]
    if foreign:
        raise KapacitorError(
            f"not a capplan task: {', '.join(foreign)} (capplan's ids start with '{prefix}-', from "
            "kapacitor.task_prefix); see `capplan alerts list`"
        )
    missing = [t for t in task_ids if client.get_task(t) is None]
    if missing:
        raise KapacitorError(f"no Kapacitor task {', '.join(missing)}; see `capplan alerts list`")
    return task_ids


def status(client: KapacitorClient, prefix: str) -> list[TaskStatus]:
    """capplan's tasks (ids starting with ``prefix-``) with status and error as Kapacitor reports them."""
    return [
        TaskStatus(t["id"], t.get("status", ""), bool(t.get("executing")), t.get("error", ""))
        for t in client.list_tasks(f"{prefix}-*")
    ]


def test_slack(client: KapacitorClient, channel: str = "", message: str = "capplan test alert") -> str:
    """Send a test message through Kapacitor's own Slack configuration; returns Kapacitor's answer."""
    options: dict[str, str] = {"message": message, "level": "CRITICAL"}
    if channel:
        options["channel"] = channel
    result = client.service_test("slack", options)
    if not result.get("success"):
        raise KapacitorError(
            f"Kapacitor's Slack test failed: {result.get('message') or 'no message'}; "
            "check [[slack]] in kapacitor.conf (enabled, url)"
        )
    return result.get("message", "") or "sent"
