"""InfluxQL and line-protocol text without a server: the exact escapes, times and refusals. The round trip
of arbitrary text through a real server is in test_influx.py."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan import influx
from capplan import influxql as q
from capplan import lineprotocol as lp
from capplan.errors import ConfigError


def test_identifiers_and_literals_escape_quotes_and_backslashes():
    assert q.ident('disk "x"\\y') == '"disk \\"x\\"\\\\y"'
    assert q.literal("o'brien\\") == "'o\\'brien\\\\'"
    assert q.source("db", "", "cpu") == '"db".."cpu"'
    assert q.source("d b", "one year", "m") == '"d b"."one year"."m"'


@given(st.text())
def test_quoted_text_cannot_end_early(text):
    """Inside the quotes every quote is escaped, so nothing after the text can be read as InfluxQL."""
    for quoted, mark in ((q.ident(text), '"'), (q.literal(text), "'")):
        body, escaped = quoted[1:-1], False
        for char in body:
            assert escaped or char != mark
            escaped = not escaped and char == "\\"
        assert not escaped and quoted[0] == quoted[-1] == mark


def test_time_literal_is_utc_with_nanoseconds():
    berlin = pd.Timestamp("2026-07-01 12:00:00.000000123", tz="Europe/Berlin")
    assert q.time_literal(berlin) == "'2026-07-01T10:00:00.000000123Z'"
    assert q.time_literal(pd.Timestamp("2026-07-01")) == "'2026-07-01T00:00:00.000000000Z'"


def test_duration_in_whole_seconds():
    assert q.duration(pd.Timedelta("5min")) == "300s"
    with pytest.raises(ValueError, match="at least one second"):
        q.duration(pd.Timedelta("500ms"))


def test_aggregate_allow_list():
    assert q.aggregate("max") == "max"
    with pytest.raises(ConfigError, match=re.escape("'max(x) FROM y' is not one of")):
        q.aggregate("max(x) FROM y")


def test_tag_conditions_pin_absent_tags_to_empty():
    assert q.tag_conditions({"path": "/", "host": "a'b"}, absent=("device",)) == [
        "\"host\" = 'a\\'b'",
        "\"path\" = '/'",
        "\"device\" = ''",
    ]


def test_line_escapes_what_the_1x_parser_splits_on_and_keeps_other_backslashes():
    line = lp.line(
        "disk io,x",
        {"path": "C:\\data dir", "host": "a=b,c", "empty": ""},
        {"used percent": 1.5, "n": 3, "ok": True, "note": 'say "hi" \\o/'},
        1_700_000_000_000_000_001,
    )
    assert line == (
        "disk\\ io\\,x,host=a\\=b\\,c,path=C:\\data\\ dir "
        'used\\ percent=1.5,n=3i,ok=true,note="say \\"hi\\" \\\\o/" 1700000000000000001'
    )


@pytest.mark.parametrize(
    ("tags", "fields", "message"),
    [
        ({"path": "C:\\"}, {"f": 1.0}, "at its end"),
        ({"host": "a\\,b"}, {"f": 1.0}, "backslash before"),
        ({"host": "two\nlines"}, {"f": 1.0}, "control character"),
        ({}, {"f": float("nan")}, "not finite"),
        ({}, {'say\\"': 1.0}, "backslash before"),
    ],
)
def test_line_refuses_what_1x_cannot_store(tags, fields, message):
    with pytest.raises(ValueError, match=message):
        lp.line("m", tags, fields, 0)


def test_https_url_with_path_prefix_and_auth():
    settings = influx.InfluxSettings(
        url="https://metrics.example.org/influx", database="telegraf", username="u", password="p"
    )
    client = influx.connect(settings)
    assert client._baseurl == "https://metrics.example.org:443/influx"
    assert client._username == "u" and client._password == "p"
    with pytest.raises(ConfigError, match="is not an http"):
        influx.InfluxSettings(url="metrics:8086", database="x")
