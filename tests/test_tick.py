"""Rendering and escaping of TICKscripts, without a server (tests/test_alerts.py runs them on Kapacitor)."""

from __future__ import annotations

import json

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan import tick
from capplan.config import InfluxSettings, KapacitorSettings
from capplan.errors import ConfigError
from capplan.serieskey import SeriesKey

KAPACITOR = KapacitorSettings(exec_wrapper="/opt/capplan/bin/capplan-retrain", slack_channel="#cap")
INFLUX = InfluxSettings(database="tele graf", retention_policy="")
WINDOW = tick.AlertWindow.of("1h")


def kapacitor_string(source: str) -> tuple[str, str]:
    """Kapacitor 1.5's reading of a string literal at the start of ``source`` (tick/lex.go
    lexSingleOrTripleString, then tick/ast newString): returns (value, rest of the source)."""
    if source.startswith("'''"):
        end = source.index("'''", 3)
        return source[3:end], source[end + 3 :]
    assert source.startswith("'")
    i = 1
    while True:
        if source[i] == "\\" and source[i + 1 : i + 2] == "'":
            i += 2
        elif source[i] == "'":
            break
        else:
            i += 1
    body, out, last, j = source[1:i], [], 0, 0
    while j < len(body) - 1:
        if body[j] == "\\" and body[j + 1] == "'":
            out.append(body[last:j])
            j += 1
            last = j
        j += 1
    out.append(body[last:])
    return "".join(out), source[i + 1 :]


def kapacitor_id_ok(task_id: str) -> bool:
    return all(c.isalpha() or c in "0123456789-._" for c in task_id) and bool(task_id)


@given(st.text())
def test_tick_string_reads_back_exactly(text):
    try:
        literal = tick.tick_string(text)
    except ConfigError:
        assert text.endswith("\\") and "'''" in text
        return
    assert kapacitor_string(literal + ", 'next'") == (text, ", 'next'")


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("plain", "'plain'"),
        ("o'brien", r"'o\'brien'"),
        ("back\\'slash", r"'back\\'slash'"),
        ("ends\\", "'''ends\\'''"),
    ],
)
def test_tick_string_examples(text, literal):
    assert tick.tick_string(text) == literal


def test_go_text_is_a_literal_go_template_string():
    assert tick.go_text('{{ .Level }} "q" \\') == '{{ "{{ .Level }} \\"q\\" \\\\" }}'
    assert json.loads(tick.go_text("ünï")[3:-3]) == "ünï"


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=4), st.text(min_size=1), st.text(min_size=1))
def test_task_ids_are_valid_and_distinct(tags, measurement, field):
    key = SeriesKey.of(measurement, field, tags)
    other = SeriesKey.of(measurement, field, {**tags, "zz_extra": "1"})
    task_id = tick.task_id("capplan", key)
    assert kapacitor_id_ok(task_id)
    assert task_id != tick.task_id("capplan", other)
    assert kapacitor_id_ok(tick.grouped_task_id("capplan", measurement, field))


def test_task_id_stays_readable():
    key = SeriesKey.of("disk", "used_percent", {"host": "db1", "path": "/var/lib"})
    assert tick.task_id("capplan", key).startswith("capplan-disk_host_db1_path_var_lib_used_percent-")


@pytest.mark.parametrize(
    ("value", "text"), [(5, "5.0"), (0.05, "0.05"), (1e-7, "0.0000001"), (1e6, "1000000.0")]
)
def test_tick_number_has_no_exponent(value, text):
    assert tick.tick_number(value) == text


@pytest.mark.parametrize("bad", ["1 h", "h", "1y", "-1h", "1h; drop", "0s"])
def test_bad_durations_are_config_errors(bad):
    with pytest.raises(ConfigError, match="duration"):
        tick.AlertWindow.of("1h", every=bad)


def test_exec_wrapper_must_be_absolute():
    key = SeriesKey.of("cpu", "usage", {"host": "a"})
    for wrapper in ("", "capplan-retrain", "~/bin/capplan-retrain"):
        with pytest.raises(ConfigError, match="exec_wrapper"):
            tick.render_series(
                key,
                aggregate="mean",
                tag_keys=["host"],
                influx=INFLUX,
                kapacitor=KapacitorSettings(exec_wrapper=wrapper),
                window=WINDOW,
            )


def strings_in(script: str, start: str) -> list[str]:
    """Values of the string literals passed to the first ``start(`` call, as Kapacitor reads them."""
    rest = script[script.index(start + "(") + len(start) + 1 :]
    values = []
    while not rest.startswith(")"):
        value, rest = kapacitor_string(rest.lstrip())
        values.append(value)
        rest = rest.lstrip().removeprefix(",").lstrip()
    return values


def test_series_script_filters_the_exact_tag_set_and_passes_the_key():
    key = SeriesKey.of("cpu", "usage_user", {"host": "srv 1 o'brien \\", "cpu": "cpu-total"})
    task = tick.render_series(
        key,
        aggregate="max",
        tag_keys=["host", "cpu", "dc"],
        influx=INFLUX,
        kapacitor=KAPACITOR,
        window=tick.AlertWindow.of("1h", every="10s"),
    )
    [real] = strings_in(task.script, "|query")
    assert real == (
        'SELECT max("usage_user") AS "value" FROM "tele graf"."autogen"."cpu" '
        "WHERE \"cpu\" = 'cpu-total' AND \"host\" = 'srv 1 o\\'brien \\\\' AND \"dc\" = ''"
    )
    pred = strings_in(task.script[task.script.index("var pred") :], "|query")[0]
    assert 'FROM "tele graf"."autogen"."pred_cpu"' in pred and "model" not in pred
    assert "\"capplan_field\" = 'usage_user'" in pred  # another field's forecast is not this series'
    assert strings_in(task.script, ".exec") == [KAPACITOR.exec_wrapper, "series", str(key)]
    assert SeriesKey.parse(strings_in(task.script, ".exec")[2]) == key
    assert strings_in(task.script, ".channel") == ["#cap"]
    assert ".groupBy(time(1h), 'cpu', 'host')" in task.script
    assert ".every(10s)" in task.script and ".period(1h)" in task.script
    # once per state change, and again every model interval while it lasts: each retrain then sees one
    # more bucket of a drift the models first take for a spike, until the forecast follows it
    assert ".stateChangesOnly(1h)" in task.script
    assert '.crit(lambda: "outside")' in task.script
    [message] = strings_in(task.script, ".message")
    assert message.startswith("capplan: " + tick.go_text(str(key)) + " is {{ .Level }}")
    assert (task.database, task.retention_policy) == ("tele graf", "autogen")


def test_thresholds_join_the_interval_test():
    key = SeriesKey.of("disk", "used", {"path": "/"})
    kapacitor = KapacitorSettings(exec_wrapper="/w", abs_threshold=10, rel_threshold=0.2)
    task = tick.render_series(
        key, aggregate="mean", tag_keys=["path"], influx=INFLUX, kapacitor=kapacitor, window=WINDOW
    )
    assert '.crit(lambda: "outside" OR "abs_error" > 10.0 OR "rel_error" > 0.2)' in task.script
    assert ".channel(" not in task.script


def test_grouped_script_groups_by_every_tag_key_and_narrows_by_where():
    task = tick.render_grouped(
        "mem",
        "used_percent",
        aggregate="mean",
        tag_keys=["host", "dc"],
        where={"dc": "eu 1"},
        influx=INFLUX,
        kapacitor=KAPACITOR,
        window=WINDOW,
    )
    [real] = strings_in(task.script, "|query")
    assert real.endswith('"mem" WHERE "dc" = \'eu 1\'')
    assert ".groupBy(time(1h), 'dc', 'host')" in task.script
    assert strings_in(task.script, ".exec") == [KAPACITOR.exec_wrapper, "group", "mem", "used_percent"]
    assert strings_in(task.script, ".id")[0].endswith(":{{ .Group }}")
    with pytest.raises(ConfigError, match="no tag keys"):
        tick.render_grouped(
            "mem",
            "x",
            aggregate="mean",
            tag_keys=[],
            where={},
            influx=INFLUX,
            kapacitor=KAPACITOR,
            window=WINDOW,
        )


def test_unknown_aggregate_is_refused():
    with pytest.raises(ConfigError, match="aggregate"):
        tick.render_series(
            SeriesKey.of("m", "f"),
            aggregate="mean(x)) --",
            tag_keys=[],
            influx=INFLUX,
            kapacitor=KAPACITOR,
            window=WINDOW,
        )


def test_templates_refuse_missing_variables():
    with pytest.raises(jinja2.UndefinedError):
        tick._environment().get_template("series.tick.j2").render(comment="x")
