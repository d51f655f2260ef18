"""TICKscripts rendered from ``tickscripts/*.tick.j2``: every value that lands in a script is escaped here.

Three languages nest in one task: TICKscript string literals hold InfluxQL queries (whose literals hold
tag values) and Go templates (``.message()``). Tag values are arbitrary text, so each layer is escaped
by the function for that layer and the templates never see a raw value (Jinja ``StrictUndefined`` also
refuses a forgotten variable instead of rendering it empty).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from capplan import influxql
from capplan.config import InfluxSettings, KapacitorSettings, tick_seconds
from capplan.errors import ConfigError
from capplan.serieskey import FIELD_TAG, SeriesKey, refuse_reserved

# Kapacitor's rule for task ids is ^[-\._\p{L}0-9]+$; str.isalpha() is exactly \p{L}.
_ID_MAX = 60
_SOURCE_DIR = Path(__file__).resolve().parent.parent / "tickscripts"
_PACKAGE_DIR = Path(__file__).resolve().parent / "tickscripts"


def tick_string(text: str) -> str:
    """TICKscript string literal whose value is exactly ``text``.

    Kapacitor's lexer treats a backslash as an escape only before a quote, and its parser only turns
    ``\\'`` into ``'``; everything else is kept verbatim. So quoting the quotes suffices, except for a
    trailing backslash (it would escape the closing quote): that text goes in a triple-quoted string,
    which has no escapes at all and ends at the first ``'''``.
    """
    if not text.endswith("\\"):
        return "'" + text.replace("'", "\\'") + "'"
    if "'''" in text:
        raise ConfigError(f"{text!r} cannot be written as a TICKscript string (ends in '\\' and has ''')")
    return "'''" + text + "'''"


def go_text(text: str) -> str:
    """Go-template action printing ``text`` literally, so ``{{`` in a tag value is not a template."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"


def tick_number(value: float) -> str:
    """Decimal literal: TICKscript numbers have no exponent form, and a float needs its decimal point."""
    text = f"{float(value):.12f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _comment(text: str) -> str:
    """A ``//`` comment ends at the newline, so none may appear in the text."""
    return text.replace("\r", " ").replace("\n", " ")


def duration(text: str, setting: str = "kapacitor.every") -> str:
    """A positive TICKscript duration literal, checked here so a typo fails before Kapacitor sees it."""
    tick_seconds(text, setting)
    return text


def _seconds(text: str) -> float:
    return tick_seconds(text, "duration")


def _slug(text: str) -> str:
    kept = "".join(c if c.isalpha() or c in "0123456789._-" else "_" for c in text)
    return re.sub(r"_+", "_", kept).strip("_.-")[:_ID_MAX] or "series"


def task_id(prefix: str, key: SeriesKey) -> str:
    """Readable and unique per series: a slug of the key plus a hash of its exact text."""
    digest = hashlib.sha256(str(key).encode()).hexdigest()[:10]
    return f"{_slug(prefix)}-{_slug(str(key))}-{digest}"


def grouped_task_id(prefix: str, measurement: str, field: str) -> str:
    digest = hashlib.sha256(f"{measurement}\0{field}".encode()).hexdigest()[:10]
    return f"{_slug(prefix)}-{_slug(measurement + '_' + field)}-all-{digest}"


@dataclass(frozen=True)
class AlertWindow:
    """Time parameters of one task. ``interval`` must be the model's, so the compared bucket is the one
    the model forecast; ``every`` and ``period`` are parameters so tests can run in seconds."""

    interval: str
    every: str
    period: str

    @property
    def judges_filling_buckets(self) -> bool:
        """Runs more often than the model interval compare the bucket still filling."""
        return _seconds(self.every) < _seconds(self.interval)

    @classmethod
    def of(cls, interval: str, every: str | None = None, period: str | None = None) -> AlertWindow:
        return cls(
            duration(interval, "model.interval"),
            duration(every or interval, "--every or kapacitor.every"),
            duration(period or interval, "--period"),
        )


@dataclass(frozen=True)
class RenderedTask:
    id: str
    script: str
    database: str
    retention_policy: str


def _environment() -> jinja2.Environment:
    """Templates from the package (installed) or from the checkout's ``tickscripts/``."""
    directories = [str(d) for d in (_PACKAGE_DIR, _SOURCE_DIR) if d.is_dir()]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directories),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def retention_policy(influx: InfluxSettings) -> str:
    """Kapacitor only lets a batch query read a db.rp listed in the task's dbrps, and an empty RP in the
    query is not "the default" there: name it (the CLI asks InfluxDB for the default; ``autogen`` here)."""
    return influx.retention_policy or "autogen"


def _select(
    influx: InfluxSettings, measurement: str, columns: str, tags: dict[str, str], absent: Sequence[str]
) -> str:
    """InfluxQL without time condition or GROUP BY (Kapacitor adds both from the node's properties)."""
    source = influxql.source(influx.database, retention_policy(influx), measurement)
    conditions = influxql.tag_conditions(tags, tuple(absent))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {columns} FROM {source}{where}"


def _queries(
    influx: InfluxSettings,
    measurement: str,
    field: str,
    aggregate: str,
    tags: dict[str, str],
    absent: Sequence[str],
) -> tuple[str, str]:
    agg = influxql.aggregate(aggregate)
    real = _select(influx, measurement, f'{agg}({influxql.ident(field)}) AS "value"', tags, absent)
    # mean over the model tag: a model change must not split the join into two groups. The field tag
    # picks this field's forecast among the measurement's.
    pred = _select(
        influx,
        f"pred_{measurement}",
        'mean("yhat") AS "yhat", mean("yhat_lower") AS "lower", mean("yhat_upper") AS "upper"',
        {**tags, FIELD_TAG: field},
        absent,
    )
    return real, pred


def _exec_args(kapacitor: KapacitorSettings, args: Sequence[str]) -> str:
    wrapper = kapacitor.exec_wrapper
    if not wrapper or not Path(wrapper).is_absolute():
        raise ConfigError(
            f"kapacitor.exec_wrapper {wrapper!r} must be the absolute path of the wrapper that "
            "venv-bootstrap/bootstrap.sh writes (Kapacitor execs it without a shell or PATH)"
        )
    return ", ".join(tick_string(a) for a in (wrapper, *args))


_FIGURES = (
    ' is {{ .Level }}: real {{ printf "%.4g" (index .Fields "real.value") }},'
    ' forecast {{ printf "%.4g" (index .Fields "pred.yhat") }}'
    ' (interval {{ printf "%.4g" (index .Fields "pred.lower") }}'
    ' to {{ printf "%.4g" (index .Fields "pred.upper") }}) at {{ .Time }}'
)


def _common(kapacitor: KapacitorSettings, window: AlertWindow, series_go: str) -> dict:
    return {
        "window": window,
        "message": tick_string("capplan: " + series_go + _FIGURES),
        "abs_threshold": tick_number(kapacitor.abs_threshold) if kapacitor.abs_threshold > 0 else "",
        "rel_threshold": tick_number(kapacitor.rel_threshold) if kapacitor.rel_threshold > 0 else "",
        "channel": tick_string(kapacitor.slack_channel) if kapacitor.slack_channel else "",
    }


def render_series(
    key: SeriesKey,
    *,
    aggregate: str,
    tag_keys: Sequence[str],
    influx: InfluxSettings,
    kapacitor: KapacitorSettings,
    window: AlertWindow,
) -> RenderedTask:
    """Task watching one series. ``tag_keys`` are all tag keys its measurement has (so a series with an
    extra tag is not averaged in); the exec program gets ``series <str(key)>``."""
    tags = key.tag_dict
    refuse_reserved(tags, f"series {key}")
    absent = sorted(set(tag_keys) - set(tags))
    real, pred = _queries(influx, key.measurement, key.field, aggregate, tags, absent)
    tid = task_id(kapacitor.task_prefix, key)
    script = (
        _environment()
        .get_template("series.tick.j2")
        .render(
            comment=_comment(str(key)),
            task_id=tid,
            real_query=tick_string(real),
            pred_query=tick_string(pred),
            group_by=[tick_string(k) for k in sorted(tags)],
            alert_id=tick_string(tid),
            exec_args=_exec_args(kapacitor, ["series", str(key)]),
            **_common(kapacitor, window, go_text(str(key))),
        )
    )
    return RenderedTask(tid, script, influx.database, retention_policy(influx))


def render_grouped(
    measurement: str,
    field: str,
    *,
    aggregate: str,
    tag_keys: Sequence[str],
    where: dict[str, str],
    influx: InfluxSettings,
    kapacitor: KapacitorSettings,
    window: AlertWindow,
) -> RenderedTask:
    """One task for every series of a measurement's field (``groupBy`` its ``tag_keys``, narrowed by
    ``where``); the exec program gets ``group <measurement> <field>`` and reads the tags from the alert."""
    if not tag_keys:
        raise ConfigError(f"{measurement}: no tag keys to group by; use per-series alerts instead")
    refuse_reserved(tag_keys, f"measurement {measurement}")
    real, pred = _queries(influx, measurement, field, aggregate, dict(where), ())
    tid = grouped_task_id(kapacitor.task_prefix, measurement, field)
    script = (
        _environment()
        .get_template("grouped.tick.j2")
        .render(
            comment=_comment(f"{measurement} {field}"),
            task_id=tid,
            real_query=tick_string(real),
            pred_query=tick_string(pred),
            group_by=[tick_string(k) for k in sorted(tag_keys)],
            alert_id=tick_string(tid + ":{{ .Group }}"),
            exec_args=_exec_args(kapacitor, ["group", measurement, field]),
            **_common(kapacitor, window, go_text(f"{measurement},") + "{{ .Group }} " + go_text(field)),
        )
    )
    return RenderedTask(tid, script, influx.database, retention_policy(influx))
