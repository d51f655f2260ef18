"""``capplan models``: look into the model store and roll back a series to an earlier version."""

from __future__ import annotations

import click

from capplan import jsonio
from capplan.cli.common import App, emit_table, pass_app, series_argument
from capplan.store import ModelStore, StoredSeries


@click.group()
def models() -> None:
    """List, inspect and roll back stored models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def list_models(app: App, as_json: bool) -> None:
    """Every stored series with its current version and directory."""
    rows = [
        {
            "series": str(s.key),
            "version": s.version,
            "model": _model_id(s),
            "directory": str(s.path),
        }
        for s in ModelStore.for_series(app.settings).list()
    ]
    if as_json:
        click.echo(jsonio.dumps(rows, indent=2))
    else:
        emit_table(rows)


def _model_id(stored: StoredSeries) -> str:
    if stored.problem:
        return f"UNREADABLE: {stored.problem}"
    try:
        return str(stored.metadata["model"]["id"])
    except (KeyError, TypeError):
        return f"UNREADABLE: {stored.path / 'metadata.json'} is not what capplan writes; roll back or retrain"


@models.command()
@series_argument
@click.option("--version", type=int, help="A version other than the current one.")
@pass_app
def show(app: App, series, version: int | None) -> None:
    """Metadata of a series' model (JSON): classification, candidates' scores, interval, versions."""
    store = ModelStore.for_series(app.settings, series)
    path, metadata = store.load(series, version)
    versions = [
        {"version": v.version, "made_by": v.made_by} | ({"problem": v.problem} if v.problem else {})
        for v in store.versions(series)
    ]
    click.echo(jsonio.dumps({"directory": str(path), **metadata, "stored_versions": versions}, indent=2))


@models.command()
@series_argument
@click.argument("version", type=int)
@pass_app
def rollback(app: App, series, version: int) -> None:
    """Make VERSION the current model of SERIES (the newer versions are kept)."""
    ModelStore.for_series(app.settings, series).rollback(series, version)
    click.echo(f"{series}: current version is now {version}")
    click.echo(
        "the forecast in InfluxDB (and what its alert compares against) is still the newer model's: "
        "`capplan forecast` rewrites it from this version"
    )
