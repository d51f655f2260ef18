"""``capplan alerts``: drift alerts as Kapacitor tasks, for the series that have a stored model."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict

import click

from capplan import alerts, doctor, influx, jsonio, pipeline, tick
from capplan.cli.common import App, emit_table, pass_app, tag_filters
from capplan.config import Settings
from capplan.kapacitor import KapacitorClient
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore
from capplan.tick import RenderedTask

log = logging.getLogger(__name__)


def _selection(function):
    options = [
        click.option("--measurement", help="Only this measurement."),
        click.option("--field", "field_name", help="Only this field."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only series with this tag."),
        click.option("--grouped", is_flag=True, help="One task per measurement and field (groupBy tags)."),
        click.option("--every", help="How often tasks run (default kapacitor.every), e.g. 10s."),
        click.option("--period", help="Window each run queries (default model.interval)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


Groups = list[tuple[tuple[str, str], list[SeriesKey]]]  # (measurement, field) -> its stored series


def _stored(app: App, measurement: str | None, field_name: str | None) -> tuple[Settings, Groups]:
    """The stored series to alert on, by measurement and field, and the settings naming the retention
    policy train read and wrote. Every stored series of a measurement is kept, so the exact-tag-set
    filters know all of its tag keys."""
    settings = app.settings
    if not settings.influxdb.retention_policy:  # tasks must name the RP that train read and wrote
        rp = influx.retention_policy(influx.connect(settings.influxdb), settings.influxdb)
        settings = dataclasses.replace(
            settings, influxdb=dataclasses.replace(settings.influxdb, retention_policy=rp)
        )
    by_spec = defaultdict(list)
    stored = ModelStore.for_series(settings).list()
    left = pipeline.left_over(settings, stored)
    if left:  # an alert on a forecast nothing refreshes judges older and older numbers
        log.warning("no alerts for them: %s", pipeline.left_over_advice(left))
    for series in stored:
        if series not in left:
            by_spec[(series.key.measurement, series.key.field)].append(series.key)
    groups = [
        ((m, f), keys)
        for (m, f), keys in sorted(by_spec.items())
        if not (measurement and m != measurement) and not (field_name and f != field_name)
    ]
    return settings, groups


def _render(
    app: App,
    measurement: str | None,
    field_name: str | None,
    tags: tuple[str, ...],
    grouped: bool,
    every: str | None,
    period: str | None,
) -> tuple[list[RenderedTask], list[str]]:
    """Tasks for the stored series matching the filters, and the ids the other kind of task (grouped
    or per series) would have for the same series."""
    where = tag_filters(tags)
    settings, groups = _stored(app, measurement, field_name)
    prefix = settings.kapacitor.task_prefix
    tasks: list[RenderedTask] = []
    other: list[str] = []
    for (m, f), keys in groups:
        spec = settings.spec_for(m, f)
        selected = [k for k in keys if where.items() <= k.tag_dict.items()]
        if grouped:
            spec = dataclasses.replace(spec, where={**spec.where, **where})
            tasks += alerts.render(settings, spec, keys, grouped=True, every=every, period=period)
            other += [tick.task_id(prefix, k) for k in selected]
            continue
        rendered = alerts.render(settings, spec, keys, every=every, period=period)
        tasks += [t for t, k in zip(rendered, keys, strict=True) if k in selected]
        other.append(tick.grouped_task_id(prefix, m, f))
    if not tasks:
        raise click.ClickException("no stored series match; train some first (`capplan train`)")
    return tasks, other


def _print_scripts(tasks: list[RenderedTask]) -> None:
    for task in tasks:
        click.echo(f"// ---- task {task.id} (dbrp {task.database}.{task.retention_policy})")
        click.echo(task.script)


def _client(app: App) -> KapacitorClient:
    return KapacitorClient(app.settings.kapacitor)


@click.group("alerts")
def alerts_group() -> None:
    """Drift alerts in Kapacitor: a CRITICAL retrains the series through the exec wrapper."""


@alerts_group.command()
@_selection
@pass_app
def render(app: App, **selection) -> None:
    """Print the TICKscripts, without contacting Kapacitor."""
    _print_scripts(_render(app, **selection)[0])


@alerts_group.command()
@_selection
@click.option("--dry-run", is_flag=True, help="Print the scripts instead of defining them.")
@pass_app
def define(app: App, dry_run: bool, **selection) -> None:
    """Create the tasks, or update and reload existing ones. Kapacitor checks every script first."""
    tasks, other = _render(app, **selection)
    if dry_run:
        _print_scripts(tasks)
        return
    if app.settings.influxdb.retention_policy:  # Kapacitor accepts a task on a missing one: it never alerts
        influx.retention_policy(influx.connect(app.settings.influxdb), app.settings.influxdb)
    client = _client(app)
    for task_id, action in alerts.define(client, tasks):
        click.echo(f"{action} {task_id}")
    wrapper = doctor.wrapper_check(app.settings)
    if not wrapper.ok:  # Kapacitor may run elsewhere, where the path can be right: a warning, not a refusal
        click.echo(
            f"warning: exec wrapper {wrapper.detail}; if Kapacitor runs on this machine, these alerts reach "
            "Slack but retrain nothing",
            err=True,
        )
    # The other kind of task watching the same series would alert (and retrain) a second time.
    running = [t for t in other if client.get_task(t) is not None]
    if running:
        kind = "per-series" if selection["grouped"] else "grouped"
        click.echo(
            f"warning: {len(running)} {kind} task(s) also watch these series, so each drift alerts twice; "
            f"remove them with `capplan alerts delete {' '.join(running)}`",
            err=True,
        )


@alerts_group.command()
@click.argument("task_ids", nargs=-1, required=True)
@pass_app
def enable(app: App, task_ids: tuple[str, ...]) -> None:
    """Enable capplan's tasks by id (see `capplan alerts list`)."""
    alerts.set_status(_client(app), task_ids, enabled=True, prefix=app.settings.kapacitor.task_prefix)


@alerts_group.command()
@click.argument("task_ids", nargs=-1, required=True)
@pass_app
def disable(app: App, task_ids: tuple[str, ...]) -> None:
    """Disable capplan's tasks by id: they stop querying and alerting but stay defined."""
    alerts.set_status(_client(app), task_ids, enabled=False, prefix=app.settings.kapacitor.task_prefix)


@alerts_group.command()
@click.argument("task_ids", nargs=-1)
@click.option("--all", "every_task", is_flag=True, help="Every task with capplan's prefix.")
@pass_app
def delete(app: App, task_ids: tuple[str, ...], every_task: bool) -> None:
    """Delete capplan's tasks by id, or all of them with --all."""
    client = _client(app)
    prefix = app.settings.kapacitor.task_prefix
    if every_task:
        task_ids = tuple(t.id for t in alerts.status(client, prefix))
    elif not task_ids:
        raise click.UsageError("give task ids or --all")
    alerts.delete(client, task_ids, prefix=prefix)
    click.echo(f"deleted {len(task_ids)} task(s)")


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def list_tasks(app: App, as_json: bool) -> None:
    """capplan's tasks with status, executing and error as Kapacitor reports them."""
    rows = [dataclasses.asdict(t) for t in alerts.status(_client(app), app.settings.kapacitor.task_prefix)]
    if as_json:
        click.echo(jsonio.dumps(rows, indent=2))
    else:
        emit_table(rows)


@alerts_group.command("test-slack")
@click.option("--channel", help="Channel (default kapacitor.slack_channel, else Kapacitor's [[slack]]).")
@click.option("--message", default="capplan test alert", show_default=True)
@pass_app
def test_slack(app: App, channel: str | None, message: str) -> None:
    """Send a test message through Kapacitor's Slack service (POST /service-tests/slack)."""
    answer = alerts.test_slack(_client(app), channel or app.settings.kapacitor.slack_channel, message)
    click.echo(f"Slack test sent: {answer}")
