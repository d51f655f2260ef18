"""The benchmark's dev split never reaches into the held-out window and keeps enough training data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import data


@pytest.fixture
def nab_dir(tmp_path):
    hours = 60 * 24
    index = pd.date_range("2014-01-01", periods=hours, freq="1h")
    frame = pd.DataFrame({"timestamp": index, "value": np.arange(hours, dtype=float)})
    frame.to_csv(tmp_path / "machine.csv", index=False)
    (tmp_path / "combined_windows.json").write_text(json.dumps({"realKnownCause/machine.csv": []}))
    return tmp_path


def test_dev_windows_end_where_the_next_begins_and_before_the_held_out_one(nab_dir):
    (test,) = data.panel("long", nab_dir)
    dev = data.panel("long", nab_dir, split="dev")
    assert [c.name for c in dev] == [f"machine@-{k}" for k in range(1, len(dev) + 1)]
    assert len(dev) == (60 * 24 - 168 - data.LONG_MIN_HOURS) // 168 == 4
    ends = [test.test.index[0]] + [c.test.index[0] for c in dev]
    for newer, case in zip(ends, dev, strict=False):
        assert len(case.test) == 168 and case.test.index[-1] + pd.Timedelta("1h") == newer
        assert case.train.index[-1] + pd.Timedelta("1h") == case.test.index[0]
        assert len(case.train) >= data.LONG_MIN_HOURS


def test_unknown_split_is_refused(nab_dir):
    with pytest.raises(ValueError, match="split"):
        data.panel("long", nab_dir, split="holdout")


def test_a_window_overlapping_a_labelled_anomaly_is_marked(tmp_path):
    hours = 30 * 24
    index = pd.date_range("2014-01-01", periods=hours, freq="1h")
    pd.DataFrame({"timestamp": index, "value": np.arange(hours, dtype=float)}).to_csv(
        tmp_path / "machine.csv", index=False
    )
    # The label ends 10 minutes into the held-out week's first hour: that hour's mean holds it.
    held_out_start = index[-168]
    label = [str(held_out_start - pd.Timedelta(days=2)), str(held_out_start + pd.Timedelta("10min"))]
    (tmp_path / "combined_windows.json").write_text(json.dumps({"realKnownCause/machine.csv": [label]}))
    (test,) = data.panel("long", tmp_path)
    dev = data.panel("long", tmp_path, split="dev")
    assert test.labelled and [c.labelled for c in dev] == [False] * len(dev)
