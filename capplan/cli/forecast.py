"""``capplan forecast`` and ``capplan explain`` on a CSV file: parse options, call the engine, write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import pandas as pd

from capplan import jsonio, zones
from capplan.api import TIME_COLUMNS, datetimes, parse_horizon, to_series
from capplan.cli.common import App, pass_app, tag_filters
from capplan.config import duration, written
from capplan.errors import CapplanError, ConfigError, DataError, first_line
from capplan.files import write_atomic

if TYPE_CHECKING:
    from capplan.engine import SeriesModel

_input = click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV file with a time column and a value column.",
)
_csv_input = click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV file with a time column and a value column (without it: the configured InfluxDB series).",
)
_time = click.option(
    "--time-column",
    help="Column of timestamps: ISO-8601 or epoch numbers (default: a column named time or timestamp).",
)
_value = click.option("--value-column", help="Column of values (default: the only numeric column).")
_horizon = click.option(
    "--horizon", default="7d", show_default=True, help="Steps to forecast (N) or a duration (e.g. 7d, 48h)."
)
_seed = click.option("--seed", default=0, show_default=True, help="Random seed: same seed, same forecast.")
_step = click.option(
    "--step",
    help="Model interval, e.g. 5m or 1h (default: inferred from the timestamps); coarser bridges gaps.",
)


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return zones.check(value)
    except DataError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


_timezone = click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    callback=_zone,
    help="Clock the daily cycle follows, e.g. Europe/Berlin when load follows local office hours across "
    "DST changes; input and output times stay as given (UTC).",
)
# Options that only mean something for a CSV; InfluxDB mode takes them from the configuration.
_CSV_ONLY = ("time_column", "value_column", "horizon", "output", "seed", "step", "timezone")
# Options that choose among the configured InfluxDB series; a CSV is one series.
_INFLUX_ONLY = ("measurement", "field_name", "tags")


def _refuse(ctx: click.Context, names: tuple[str, ...], where: str) -> None:
    """A usage error naming those of ``names`` given on the command line: silently ignored, an option
    the user gave looks as if it had done something."""
    given = [
        p.opts[0]
        for p in ctx.command.params
        if p.name in names and ctx.get_parameter_source(p.name) != click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)} only {'apply' if len(given) > 1 else 'applies'} {where}")


def _step_value(text: str | None) -> pd.Timedelta | None:
    if text is None:
        return None
    try:
        return pd.Timedelta(duration(text, "--step"))
    except ConfigError as exc:
        raise click.BadParameter(f"{text!r} is not a duration like 5m or 1h", param_hint="--step") from exc


def _fit(series: pd.Series, h: int | pd.Timedelta, seed: int, step: str | None, timezone: str) -> SeriesModel:
    """The engine is imported here, not at the top: it pulls in scipy.signal and statsmodels (about 2 s),
    which every other command (``--help``, ``alerts list``, the status table) would pay for."""
    from capplan import engine

    return engine.fit(series, h, name=str(series.name), seed=seed, step=_step_value(step), timezone=timezone)


def _read(path: Path, time_column: str | None, value_column: str | None) -> pd.Series:
    try:
        frame = pd.read_csv(path)
        frame.columns = [str(c).strip() for c in frame.columns]  # " time , value" is a common header
        column = time_column or next((c for c in frame.columns if str(c).lower() in TIME_COLUMNS), None)
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = datetimes(frame[column], format="ISO8601")
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {path}: {first_line(exc)}; give a comma-separated CSV with ISO-8601 times "
            "(e.g. 2024-05-01T00:00:00Z)"
        ) from exc
    if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
        raise DataError(f"{path} looks ;-separated (header {frame.columns[0]!r}); give a comma-separated CSV")
    series = to_series(frame, time_column=time_column, value_column=value_column)
    return series.rename(value_column or series.name or path.stem)


def _horizon_value(text: str) -> int | pd.Timedelta:
    try:
        return parse_horizon(text)
    except DataError as exc:
        raise click.BadParameter(str(exc), param_hint="--horizon") from exc


@click.command("forecast")
@_csv_input
@_time
@_value
@_horizon
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="CSV to write: time,yhat,yhat_lower,yhat_upper (ISO-8601 UTC); required with --input.",
)
@_seed
@_step
@_timezone
@click.option("--measurement", help="InfluxDB mode: only this measurement.")
@click.option("--field", "field_name", help="InfluxDB mode: only this field.")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="InfluxDB mode: only series with this tag."
)
@pass_app
def forecast_command(
    app: App,
    input_path: Path | None,
    time_column: str | None,
    value_column: str | None,
    horizon: str,
    output: Path | None,
    seed: int,
    step: str | None,
    timezone: str,
    measurement: str | None,
    field_name: str | None,
    tags: tuple[str, ...],
) -> None:
    """Forecast a CSV series (--input, --output) with the model that wins its backtest, or, without
    --input, rewrite the forecasts of the configured InfluxDB series from their stored models carried
    forward to the newest data (the stored models are not changed: see `capplan retrain`)."""
    ctx = click.get_current_context()
    if input_path is None:
        _refuse(
            ctx,
            _CSV_ONLY,
            "with --input; without it the forecasts of the configured InfluxDB series are rewritten with "
            "model.horizon from the configuration",
        )
        _refresh_influx(app, measurement, field_name, tags)
        return
    _refuse(
        ctx,
        _INFLUX_ONLY,
        "without --input, to choose among the configured InfluxDB series; a CSV is one series",
    )
    if output is None:
        raise click.UsageError("--output is required with --input")
    if not output.parent.is_dir():
        raise click.BadParameter(
            f"directory {output.parent} does not exist; create it first", param_hint="--output"
        )
    if output.resolve() == input_path.resolve():
        raise click.BadParameter(
            f"{output} is the input; write the forecast to another file", param_hint="--output"
        )
    series = _read(input_path, time_column, value_column)
    h = _horizon_value(horizon)
    model = _fit(series, h, seed, step, timezone)
    frame = model.forecast().frame
    out = frame.reset_index()
    sub_second = bool((out["time"].dt.microsecond != 0).any())
    out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if sub_second else "%Y-%m-%dT%H:%M:%SZ")
    try:  # whole or not at all: a full disk must not leave a cut-off file where a good one was
        write_atomic(output, out.to_csv(index=False))
    except OSError as exc:
        raise CapplanError(f"cannot write {output}: {exc.strerror or exc}; the file was not changed") from exc
    click.echo(
        f"{series.name}: {model.model_name} (backtest MASE {model.validation_mase:.3f}, "
        f"{model.classification.kind}, periods {list(model.classification.periods)}); "
        f"{len(out)} steps written to {output}"
    )


def _refresh_influx(app: App, measurement: str | None, field_name: str | None, tags: tuple[str, ...]) -> None:
    from capplan import pipeline

    found = pipeline.discover(
        app.settings, measurement=measurement, field_name=field_name, where=tag_filters(tags)
    )
    report = pipeline.for_each(
        found.keys, lambda key: (key, pipeline.refresh_forecast(app.settings, key)), unmatched=found.unmatched
    )
    try:  # the exit status tells of failures even when the reader stopped early (`| head`)
        for key, points in report.results:
            click.echo(f"{key}: {points} forecast points written")
    finally:
        report.raise_if_incomplete()


@click.command("explain")
@_input
@_time
@_value
@_horizon
@_seed
@_step
@_timezone
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain_command(
    input_path: Path,
    time_column: str | None,
    value_column: str | None,
    horizon: str,
    seed: int,
    step: str | None,
    timezone: str,
    as_json: bool,
) -> None:
    """Show how a CSV series is classified, every candidate's backtest score and why the winner won."""
    series = _read(input_path, time_column, value_column)
    h = _horizon_value(horizon)
    info = _fit(series, h, seed, step, timezone).explain()
    if as_json:
        click.echo(jsonio.dumps(info, indent=2))
        return
    c = info["classification"]
    step = pd.Timedelta(info["step"])
    click.echo(f"series:         {info['series']}")
    click.echo(
        f"data:           {info['data']['first']} to {info['data']['last']}, step {_steps(1, step)}; "
        f"horizon {_steps(info['horizon_steps'], step)}"
    )
    periods = ", ".join(_steps(p, step) for p in c["periods"]) or "none"
    click.echo(f"classification: {c['kind']} (periods {periods}; ACF-vs-lag r={c['pearson_r']:.3f})")
    click.echo(f"                {c['reason']}")
    if info["timezone"] != "UTC":
        click.echo(f"clock:          {info['timezone']} (daily cycles follow its DST changes)")
    click.echo(f"model:          {info['model']} (backtest MASE {info['validation_mase']:.3f})")
    band = info["interval"]
    first, last = band["first_step"], band["last_step"]
    click.echo(
        f"interval:       {band['level']:.0%} from the {band['source']}: {first['lower']:+.4g}/"
        f"{first['upper']:+.4g} at step 1, {last['lower']:+.4g}/{last['upper']:+.4g} at step "
        f"{info['horizon_steps']}"
    )
    segment = info["linear_segment"]
    if segment:
        click.echo(
            f"segment:        line over the last {_steps(segment['steps'], step)} "
            f"(since {segment['start']}), slope {segment['slope_per_day']:+.4g} a day"
        )
    shifts = ", ".join(f"{s['size']:+.4g} at {s['at']}" for s in info["level_shifts"])
    click.echo(f"level shifts:   {shifts or 'none found'}")
    click.echo(f"gaps:           {_gaps(info)}")
    click.echo("scores:")
    for name, score in sorted(info["scores"].items(), key=lambda kv: (kv[1] != kv[1], kv[1])):
        click.echo(f"  {name:12s} {score:.3f}")
    click.echo(f"why:            {info['why']}")


def _steps(n: int, step: pd.Timedelta) -> str:
    """Periods and horizons are counted in model steps, which mean nothing without the step's length."""
    return written(step) if n == 1 else f"{n} steps = {written(n * step)}"


def _gaps(info: dict) -> str:
    filled, bridged = info["interpolated"], info["bridged"]
    parts = [f"{filled} missing steps filled ({bridged} with the previous day's shape)"] if filled else []
    if info["cut_because"]:
        parts.append(f"history cut at a gap ({info['cut_because']}): data from {info['data']['first']} only")
    return "; ".join(parts) or "none"
