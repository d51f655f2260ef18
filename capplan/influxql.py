"""InfluxQL text built safely: identifiers double-quoted with escapes, string literals single-quoted
with escapes, durations and times rendered by us. Tag *values* in SELECTs go through bound parameters
instead; these helpers cover what binding cannot (identifiers, DELETE statements)."""

from __future__ import annotations

import pandas as pd

from capplan.config import AGGREGATES
from capplan.errors import ConfigError


def ident(name: str) -> str:
    """Double-quoted identifier (measurement, field, tag key, database, retention policy)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """Single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def time_literal(when: pd.Timestamp) -> str:
    """RFC3339 UTC with nanoseconds: InfluxQL compares it exactly with stored times."""
    when = pd.Timestamp(when)
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    return "'" + when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.value % 10**9:09d}Z'"


def duration(delta: pd.Timedelta) -> str:
    """Whole seconds as an InfluxQL duration; sub-second model intervals make no sense for capacity."""
    seconds = int(pd.Timedelta(delta).total_seconds())
    if seconds <= 0:
        raise ValueError(f"duration {delta} must be at least one second")
    return f"{seconds}s"


def source(database: str, retention_policy: str, measurement: str) -> str:
    """Fully qualified ``"db"."rp"."m"``; an empty RP means the database's default (``"db".."m"``)."""
    rp = ident(retention_policy) if retention_policy else ""
    return f"{ident(database)}.{rp}.{ident(measurement)}"


def aggregate(name: str) -> str:
    """The allow-list keeps a configured aggregate from smuggling InfluxQL into the SELECT."""
    if name not in AGGREGATES:
        raise ConfigError(f"aggregate {name!r} is not one of {', '.join(sorted(AGGREGATES))}; fix [[series]]")
    return name


def tag_conditions(tags: dict[str, str], absent: tuple[str, ...] = ()) -> list[str]:
    """``"k" = 'v'`` per tag; ``absent`` tag keys must be empty so a series with extra tags never matches."""
    return [f"{ident(k)} = {literal(v)}" for k, v in sorted(tags.items())] + [
        f"{ident(k)} = ''" for k in absent
    ]
