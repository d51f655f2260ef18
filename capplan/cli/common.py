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
    """A series key; one that names fewer tags than a stored series (Telegraf's disk series also carry
    device, fstype and mode) means that series, if it is the only one."""

    name = "SERIES"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> SeriesKey:
        if isinstance(value, SeriesKey):
            return value
        try:
            key = SeriesKey.parse(value)
        except ValueError as exc:
            self.fail(f"{exc}; e.g. 'disk,host=db1,path=/ used_percent' (see `capplan status`)", param, ctx)
        app = ctx.find_object(App) if ctx else None
        if app is None:
            return key
        matches = stored_matches(app.settings, key)
        if len(matches) > 1:
            shown = "; ".join(f"'{m}'" for m in matches[:5]) + (" ..." if len(matches) > 5 else "")
            self.fail(f"{key} matches {len(matches)} stored series, name more tags: {shown}", param, ctx)
        return matches[0] if matches else key


def stored_matches(settings: Settings, key: SeriesKey) -> list[SeriesKey]:
    """``key`` itself if it is stored, else the stored series of its measurement and field whose tags
    include all of ``key``'s."""
    from capplan.store import ModelStore

    if ModelStore.for_series(settings, key).stored(key):
        return [key]
    wanted = key.tag_dict.items()
    return [
        stored.key
        for stored in ModelStore.for_series(settings).list()
        if (stored.key.measurement, stored.key.field) == (key.measurement, key.field)
        and wanted <= stored.key.tag_dict.items()
    ]


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
