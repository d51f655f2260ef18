"""The ``capplan`` command: glue only. Each command parses options, calls the library, and turns
:class:`~capplan.errors.CapplanError` into one ``Error: ...`` line with the error's exit code."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from capplan import __version__, jsonio, logs
from capplan.cli import fleet, models
from capplan.cli.alerts import alerts_group
from capplan.cli.common import App, pass_app
from capplan.cli.forecast import explain_command, forecast_command
from capplan.config import Settings, load_settings
from capplan.errors import CapplanError


class CapplanGroup(click.Group):
    """Every failure ends as one ``Error:`` line: server messages can span lines (Kapacitor's JSON,
    pandas' advice), and a file the OS refuses (log file, store, output) is named, not traced back."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CapplanError as exc:
            click.echo(f"Error: {_one_line(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:  # `capplan status | head -1`: the reader has all it wanted
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout again at exit
            ctx.exit(0)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            click.echo(
                f"Error: cannot use{where}: {exc.strerror or exc}; check the path and its permissions",
                err=True,
            )
            ctx.exit(1)


# Where the group leaves a configuration error for doctor (ctx.meta is shared with the subcommand).
_CONFIG_ERROR = "capplan.config_error"


def _one_line(text: str) -> str:
    """Server messages (Kapacitor's and InfluxDB's JSON errors) span lines; a terminal line must not."""
    return " ".join(text.split())


def _setup_logging(settings: Settings, verbose: int) -> None:
    level = logging.DEBUG if verbose else getattr(logging, settings.log.level.upper(), logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log.file:
        handlers.append(logging.FileHandler(settings.log.file))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
    logs.configure(level, handlers, libraries=logging.DEBUG if verbose else logs.LIBRARIES_LEVEL)


@click.group(cls=CapplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="capplan")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file (default: $CAPPLAN_CONFIG if set, else ./capplan.toml if present).",
)
@click.option("--influx-url", help="InfluxDB URL, e.g. http://127.0.0.1:8086.")
@click.option("--database", help="InfluxDB database.")
@click.option("--kapacitor-url", help="Kapacitor URL, e.g. http://127.0.0.1:9092.")
@click.option("--store", help="Model store directory.")
@click.option("-v", "--verbose", count=True, help="Log debug messages.")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    influx_url: str | None,
    database: str | None,
    kapacitor_url: str | None,
    store: str | None,
    verbose: int,
) -> None:
    """Capacity-planning forecasts for InfluxDB series, with drift alerts and retraining via Kapacitor."""
    try:
        settings = load_settings(
            config_path,
            overrides={
                "influxdb": {"url": influx_url, "database": database},
                "kapacitor": {"url": kapacitor_url},
                "model": {"store": store},
            },
        )
    except CapplanError as exc:
        if ctx.invoked_subcommand != "doctor":
            raise
        ctx.meta[_CONFIG_ERROR] = exc  # doctor reports it in the form asked for: --json is not parsed yet
        return
    _setup_logging(settings, verbose)
    ctx.obj = App(settings)


@cli.command()
@click.option("--offline", is_flag=True, help="Skip the server checks (no InfluxDB or Kapacitor needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def doctor(ctx: click.Context, offline: bool, as_json: bool) -> None:
    """Check the configuration, InfluxDB and Kapacitor; exit non-zero on any problem."""
    from capplan import doctor as checks_module

    error = ctx.meta.get(_CONFIG_ERROR)
    if error is not None:
        if not as_json:
            raise error
        failed = checks_module.Check("configuration", False, str(error))
        click.echo(jsonio.dumps([failed.__dict__], indent=2))
        ctx.exit(error.exit_code)
    settings = ctx.find_object(App).settings
    checks = checks_module.offline_checks(settings)
    if not offline:
        checks += checks_module.server_checks(settings)
    if as_json:
        click.echo(jsonio.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for check in checks:
            click.echo(f"{'ok ' if check.ok else 'FAIL'} {check.name}: {_one_line(check.detail)}")
    if not all(c.ok for c in checks):
        sys.exit(1)


@cli.command()
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(output: Path, seed: int) -> None:
    """Run the whole job on built-in sample data, no servers: models, forecasts, plots, report."""
    from capplan.demo import run_demo

    for item in run_demo(output, seed=seed):
        capacity = item.capacity.describe() if item.capacity else "no threshold"
        click.echo(f"{item.key}: {item.kind} -> {item.model} ({item.seconds:.1f} s); {capacity}")
    click.echo(f"outputs in {output.resolve()}: report.txt, plots/*.png, forecasts/*.csv, models/")


for _command in (
    fleet.train,
    fleet.retrain,
    fleet.status,
    fleet.plot,
    models.models,
    forecast_command,
    explain_command,
    alerts_group,
):
    cli.add_command(_command)

__all__ = ["App", "cli", "main", "pass_app"]


def main() -> None:
    cli(prog_name="capplan")
