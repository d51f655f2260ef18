"""InfluxDB 1.x line protocol, escaped the way the 1.x server actually parses it.

The ``influxdb`` client escapes a backslash in a tag as ``\\\\``, but InfluxDB 1.x only unescapes
``\\,``, ``\\=`` and ``\\ ``: every other backslash is kept literally, so the client doubles backslashes
(``c:\\temp`` is stored as ``c:\\\\temp``) and cannot write a value ending in one. capplan writes tags
that it read back from the server (the series' own), so they must round-trip exactly; values the 1.x
protocol cannot carry are refused with a clear error instead of being stored altered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_KEY_SPECIAL = (",", "=", " ")
_QUOTE = ('"',)


def _escape(text: str, special: tuple[str, ...], what: str, unescaped: tuple[str, ...] = ()) -> str:
    """Escape ``special``; refuse a backslash before ``special + unescaped`` (the characters the server
    unescapes in this position), since the server would drop or alter it."""
    if any(ord(char) < 32 for char in text):
        raise ValueError(f"{what} {text!r} has a control character, which InfluxDB cannot carry or query")
    refused = special + unescaped
    if text.endswith("\\") or any("\\" + char in text for char in refused):
        raise ValueError(
            f"{what} {text!r} has a backslash before {', '.join(repr(c) for c in refused)} or at its end, "
            "which InfluxDB 1.x line protocol cannot carry"
        )
    for char in special:
        text = text.replace(char, "\\" + char)
    return text


def _field_value(value: float | int | str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field value {value} is not finite; InfluxDB stores only finite floats")
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, float | int | str | bool], time_ns: int
) -> str:
    """One point; tags sorted by key (InfluxDB's order), empty tag values left out (they mean absent)."""
    head = _escape(measurement, (",", " "), "measurement", unescaped=("=", *_QUOTE))
    for key in sorted(tags):
        if tags[key] != "":
            head += (
                f",{_escape(key, _KEY_SPECIAL, 'tag key')}={_escape(tags[key], _KEY_SPECIAL, 'tag value')}"
            )
    body = ",".join(
        f"{_escape(k, _KEY_SPECIAL, 'field key', unescaped=_QUOTE)}={_field_value(v)}"
        for k, v in fields.items()
    )
    return f"{head} {body} {int(time_ns)}"
