"""The identity of one forecast series, and its one reversible text form.

The text form travels where only a string fits: Kapacitor ``.exec()`` arguments, log lines, the
model store's recorded key.  It reuses InfluxDB's series-key shape (``measurement,tag=value field``)
with backslash escapes for ``\\``, ``,``, ``=`` and space, so it is readable and round-trips any value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from capplan.errors import DataError

_SPECIAL = ("\\", ",", "=", " ")
# Tags capplan adds to its own measurements (pred_*, capacity_*): which field a point forecasts, and the
# model that made it. Prefixed, because Telegraf plugins have tags named ``model`` (smart, ipmi) and
# ``field`` would be just as plausible: a series' own tag must never be overwritten.
FIELD_TAG = "capplan_field"
MODEL_TAG = "capplan_model"


def refuse_reserved(tag_keys: Iterable[str], what: str) -> None:
    clash = sorted({FIELD_TAG, MODEL_TAG} & set(tag_keys))
    if clash:
        raise DataError(
            f"{what} has a tag {clash[0]!r}, which capplan adds to its forecasts; rename the tag "
            "(Telegraf: [[processors.rename]]) or leave the series out of the configuration"
        )


def _escape(text: str) -> str:
    for char in _SPECIAL:
        text = text.replace(char, "\\" + char)
    return text


def _split(text: str, separator: str) -> list[str]:
    """Split on unescaped ``separator``; escapes are kept for the caller to undo."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ValueError(f"series key {text!r} ends with a lone backslash")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True, order=True)
class SeriesKey:
    """measurement + field + the full tag set of one series (tags sorted, as InfluxDB does)."""

    measurement: str
    field: str
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, measurement: str, field: str, tags: Mapping[str, str] | None = None) -> SeriesKey:
        return cls(measurement, field, tuple(sorted((str(k), str(v)) for k, v in (tags or {}).items())))

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)

    def forecast_tags(self) -> dict[str, str]:
        """Tags of this series' points in capplan's measurements: its own tags plus ``FIELD_TAG``."""
        refuse_reserved(self.tag_dict, f"series {self}")
        return {**self.tag_dict, FIELD_TAG: self.field}

    def primary_value(self, primary_tag: str) -> str:
        """Value of the primary tag (``host`` by default); empty when the series lacks that tag."""
        return self.tag_dict.get(primary_tag, "")

    def __str__(self) -> str:
        head = ",".join([_escape(self.measurement), *(f"{_escape(k)}={_escape(v)}" for k, v in self.tags)])
        return f"{head} {_escape(self.field)}"

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """Inverse of ``str()``; raises ValueError naming the problem."""
        pieces = _split(text, " ")
        if len(pieces) != 2 or not pieces[0] or not pieces[1]:
            raise ValueError(f"series key {text!r} is not 'measurement[,tag=value...] field'")
        head = _split(pieces[0], ",")
        tags = []
        for item in head[1:]:
            pair = _split(item, "=")
            if len(pair) != 2 or not pair[0]:
                raise ValueError(f"series key {text!r}: tag {item!r} is not key=value")
            tags.append((_unescape(pair[0]), _unescape(pair[1])))
        return cls.of(_unescape(head[0]), _unescape(pieces[1]), dict(tags))
