"""Commands an operator runs against InfluxDB every day: train, retrain, status, plot."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import pandas as pd

from capplan import jsonio, pipeline
from capplan.cli.common import App, emit_table, pass_app, series_argument, tag_filters
from capplan.config import SeriesSpec, Settings, duration
from capplan.errors import CapplanError
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore, StoredSeries

log = logging.getLogger(__name__)


@click.command()
@click.option("--measurement", help="Only this measurement.")
@click.option("--field", "field_name", help="Only this field.")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only series with this tag (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def train(
    app: App, measurement: str | None, field_name: str | None, tags: tuple[str, ...], as_json: bool
) -> None:
    """Train every configured series (or those matching the filters) and write their forecasts."""
    settings = app.settings
    # A store that cannot be created fails here, before any series is fitted.
    ModelStore.for_series(settings).root.mkdir(parents=True, exist_ok=True)
    found = pipeline.discover(
        settings, measurement=measurement, field_name=field_name, where=tag_filters(tags)
    )
    with click.progressbar(length=len(found.keys), label="training", file=sys.stderr) as bar:
        report = pipeline.for_each(
            found.keys,
            lambda key: pipeline.train_series(settings, key),
            lambda _: bar.update(1),
            found.unmatched,
        )
    rows = [
        {
            "series": str(r.key),
            "model": r.model_name,
            "period": ",".join(map(str, r.periods)) or "-",
            "validation_mase": round(r.validation_mase, 3),
            "version": r.version,
            "seconds": round(r.seconds, 1),
            "capacity": r.capacity.describe() if r.capacity else "",
        }
        for r in report.results
    ]
    try:  # the exit status tells of failures even when the reader stopped early (`| head`)
        if as_json:
            click.echo(
                jsonio.dumps(
                    {
                        "trained": rows,
                        "failed": {str(k): v for k, v in report.failures.items()},
                        "unmatched": report.unmatched,
                    },
                    indent=2,
                )
            )
        else:
            emit_table(rows)
    finally:
        report.raise_if_incomplete()


@click.command()
@series_argument
@pass_app
def retrain(app: App, series) -> None:
    """Incremental retrain of one series from its saved weights (what the Kapacitor hook runs)."""
    result = pipeline.retrain(app.settings, series)
    verdict = (
        f"kept the previous version: {result.why_kept}"
        if result.kept_previous
        else f"saved version {result.version_after}"
    )
    click.echo(f"{series}: {result.validation}; {verdict} ({result.seconds:.1f} s)")


def _capacity_columns(capacity: dict | None, *, as_json: bool = False) -> dict:
    """Days to the threshold counted from now (the answer counts from the forecast's last observation),
    and what a blank means: no threshold configured, or not reached within the forecast. The table
    says it in words; JSON gives the threshold as a number and the times as ISO-8601 UTC."""
    if not capacity:
        empty = {"days_to_threshold": None, "threshold": None}
        return empty | ({"reached": None, "forecast_end": None} if as_json else {})
    seconds, value = capacity["seconds_to_threshold"], capacity["threshold"]
    origin = pd.Timestamp(capacity["origin"]).tz_convert("UTC")
    horizon_end = origin + pd.Timedelta(seconds=capacity["horizon_seconds"])
    reached = origin + pd.Timedelta(seconds=seconds) if seconds >= 0 else None
    days = None
    if reached is not None:
        days = round(max(0.0, (reached - pd.Timestamp.now(tz="UTC")) / pd.Timedelta("1D")), 1)
    if as_json:
        return {
            "days_to_threshold": days,
            "threshold": value,
            "reached": reached.isoformat() if reached is not None else None,
            "forecast_end": horizon_end.isoformat(),
        }
    if reached is None:
        return {
            "days_to_threshold": None,
            "threshold": f"{value:g} not reached by {horizon_end:%Y-%m-%d %H:%M} UTC",
        }
    return {"days_to_threshold": days, "threshold": f"{value:g} on {reached:%Y-%m-%d %H:%M} UTC"}


def _status_row(store: ModelStore, stored: StoredSeries, as_json: bool) -> dict:
    """A damaged version is a row too (the details and the way out: `capplan models list`, the log)."""
    unreadable = {"series": str(stored.key), "model": "UNREADABLE", "version": stored.version}
    unreadable |= dict.fromkeys(("trained", "validation_mase", *_capacity_columns(None, as_json=as_json)))
    if stored.problem:
        return unreadable
    meta = stored.metadata
    try:
        return {
            "series": str(stored.key),
            "model": meta["model"]["id"],
            "version": stored.version,
            "trained": meta["created"],
            "validation_mase": round(meta["validation"]["mase"], 3),
            **_capacity_columns(
                store.published_capacity(stored.key) or meta.get("capacity"), as_json=as_json
            ),
        }
    except (KeyError, TypeError, ValueError):  # readable JSON, but not what capplan writes
        return unreadable


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Per stored series: model, version, last trained, validation error, days from now to the
    configured threshold and when it is reached (as in the forecast last written to InfluxDB)."""
    store = ModelStore.for_series(app.settings)
    stored = store.list()
    left = pipeline.left_over(app.settings, stored)
    if left:
        log.warning("%s", pipeline.left_over_advice(left))
    rows = [_status_row(store, series, as_json) for series in stored]
    if as_json:
        click.echo(jsonio.dumps(rows, indent=2))
    elif rows:
        emit_table(rows)
    else:
        click.echo(f"no models in {app.settings.model.store}: run `capplan train`")


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _no_forecast(settings: Settings, client, series: SeriesKey) -> str:
    """Why a series has no forecast to plot: not trained yet, or no such series at all (a typo in a tag
    value was told to run `capplan train`, which would not find it either)."""
    from capplan import influx

    if not ModelStore.for_series(settings, series).stored(series):
        # As train looks: series with these tags (and maybe more) and data within model.history.
        spec = SeriesSpec(series.measurement, series.field, where=series.tag_dict)
        lookback = pd.Timedelta(duration(settings.model.history))
        if not influx.discover_series(client, settings.influxdb, spec, lookback=lookback):
            return (
                f"{series}: not a known series (no stored model, no data in the last "
                f"{settings.model.history}); `capplan status` lists the series capplan knows"
            )
    return f"{series}: no forecast in pred_{series.measurement}; run `capplan train` first"


@click.command()
@series_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Image to write: .png, .svg or .pdf.",
)
@pass_app
def plot(app: App, series, output: Path) -> None:
    """Draw history, forecast, interval band and threshold of one series from InfluxDB."""
    from capplan import influx
    from capplan.plot import plot_forecast

    if output.suffix.lower() not in PLOT_SUFFIXES:
        raise click.BadParameter(
            f"{output}: give a {', '.join(PLOT_SUFFIXES)} file name", param_hint="--output"
        )
    if not output.parent.is_dir():
        raise click.BadParameter(
            f"directory {output.parent} does not exist; create it first", param_hint="--output"
        )

    settings = app.settings
    client = influx.connect(settings.influxdb)
    forecast = influx.read_forecast(client, settings.influxdb, series)
    if forecast.empty:
        raise CapplanError(_no_forecast(settings, client, series))
    span = 3 * (forecast.index[-1] - forecast.index[0]) + pd.Timedelta(duration(settings.model.interval))
    history = pipeline.read_history(settings, client, series, span, end=forecast.index[0]).dropna()
    capacity = pipeline.capacity_of(settings, series, history.index[-1], forecast) if len(history) else None
    plot_forecast(history, forecast, output, title=str(series), capacity=capacity)
    click.echo(str(output))
