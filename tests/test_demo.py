"""``capplan demo`` (the README's first command) end to end: no servers, known truths in its samples."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from capplan import sample_data
from capplan.cli import cli
from capplan.store import ModelStore


def test_demo_forecasts_saves_and_answers_the_disk_question(tmp_path, monkeypatch):
    monkeypatch.delenv("CAPPLAN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./capplan.toml
    result = CliRunner().invoke(cli, ["demo", "--output", "out"])
    assert result.exit_code == 0, result.output
    report = {item["series"]: item for item in json.loads((tmp_path / "out" / "report.json").read_text())}
    assert set(report) == {str(key) for key in sample_data.samples()}

    cpu = report["cpu,cpu=cpu-total,host=web-01 usage_user"]
    assert cpu["kind"] == "seasonal" and 24 in cpu["periods"]
    disk = report["disk,host=db-01,path=/var/lib/postgresql used_percent"]
    assert (disk["kind"], disk["model"]) == ("trend", "linear")
    # The disk grows 2 %/day from 67.6 % at the end of its sample: 80 % is 6.2 days away.
    assert abs(disk["capacity"]["seconds_to_threshold"] / 86400 - 6.2) < 0.2
    assert "likely in 6.2 d" in (tmp_path / "out" / "report.txt").read_text()

    for item in report.values():
        assert "ranking: " in item["why"]
        frame = pd.read_csv(item["forecast"])
        assert list(frame.columns) == ["time", "yhat", "yhat_lower", "yhat_upper"]
        assert len(frame) == 7 * 24
        assert ((frame.yhat_lower <= frame.yhat) & (frame.yhat <= frame.yhat_upper)).all()
        with open(item["plot"], "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    end = pd.Timestamp(pd.read_csv(disk["forecast"]).time[0])
    assert end == sample_data.END + pd.Timedelta("1h")
    assert {s.key for s in ModelStore(tmp_path / "out" / "models").list()} == set(sample_data.samples())
