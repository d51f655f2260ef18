"""Pieces shared by every command module: the app object, argument types, table output."""

from __future__ import annotations

from typing import Any

import click

from capplan.config import Settings
from capplan.serieskey import SeriesKey


class App:
    """Built once by the group and handed to every command through the click context."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


pass_app = click.make_pass_decorator(App)


class SeriesKeyType(click.ParamType):
    name = "SERIES"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> SeriesKey:
        if isinstance(value, SeriesKey):
            return value
        try:
            return SeriesKey.parse(value)
        except ValueError as exc:
            self.fail(f"{exc}; e.g. 'disk,host=db1,path=/ used_percent' (see `capplan status`)", param, ctx)


series_argument = click.argument("series", type=SeriesKeyType())


def tag_filters(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--tag")
        out[key] = value
    return out


def emit_table(rows: list[dict[str, Any]]) -> None:
    """Plain aligned columns: readable in a terminal and in a log file."""
    if not rows:
        return
    columns = list(rows[0])
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
