"""Time zone names, checked without pandas: the exec hook reads the configuration while Kapacitor
waits, and must not pay for heavy imports on the way to its worker."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from capplan.errors import DataError

UTC = "UTC"


def check(zone: str) -> str:
    """``zone`` if it is a time zone this machine knows (an IANA name such as Europe/Berlin)."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Europe" is a directory of zones
        raise DataError(
            f"unknown time zone {zone!r}; give an IANA name such as Europe/Berlin or UTC"
        ) from exc
    return zone
