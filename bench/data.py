"""Load the NAB series as hourly means and split them into the benchmark's two panels.

Every method sees exactly the same training values: gaps in the hourly grid are filled here, once, by
linear interpolation, so no method gets an advantage (or a failure) from its own gap handling.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
LONG_MIN_HOURS = 21 * 24  # "series with >= 3 weeks of data"
LONG_HOLDOUT = 168
SHORT_HOLDOUT = 48
SHORT_MIN_HOURS = 13 * 24  # the ~14-day AWS CloudWatch files; excludes the 4.3-day iio NetworkIn
AWS_GROUP = "realAWSCloudwatch"


@dataclass(frozen=True)
class Case:
    """One benchmark series: training values, the held-out actuals right after them, and provenance."""

    name: str
    train: pd.Series  # hourly, tz-naive local time (as in the CSVs), no NaN
    test: pd.Series
    interpolated: int  # hourly buckets with no raw sample, filled by interpolation


def hourly(path: Path) -> tuple[pd.Series, int]:
    """Hourly means of a NAB CSV, with empty hours interpolated; returns the count of filled hours."""
    raw = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")["value"].astype(float)
    grid = raw.sort_index().resample("1h").mean()
    missing = int(grid.isna().sum())
    return grid.interpolate(method="time").rename(path.stem), missing


def groups(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """File name -> NAB group (e.g. realAWSCloudwatch), read from NAB's label file."""
    windows = json.loads((data_dir / "combined_windows.json").read_text())
    return {Path(key).name: key.split("/")[0] for key in windows}


def panel(which: str, data_dir: Path = DATA_DIR, train_hours: int | None = None) -> list[Case]:
    """The ``long`` panel (>= 3 weeks, last 168 h held out) or the ``short`` one (14-day AWS, last 48 h).

    ``train_hours`` keeps only the newest training hours (for the fixed-size timing run)."""
    group_of = groups(data_dir)
    cases = []
    for path in sorted(data_dir.glob("*.csv")):
        values, missing = hourly(path)
        if which == "long":
            if len(values) < LONG_MIN_HOURS:
                continue
            holdout = LONG_HOLDOUT
        elif which == "short":
            if group_of.get(path.name) != AWS_GROUP or len(values) < SHORT_MIN_HOURS:
                continue
            holdout = SHORT_HOLDOUT
        else:
            raise ValueError(f"unknown panel {which!r}; use long or short")
        train = values.iloc[:-holdout]
        if train_hours is not None:
            train = train.iloc[-train_hours:]
        cases.append(Case(name=path.stem, train=train, test=values.iloc[-holdout:], interpolated=missing))
    log.info("panel %s: %d series", which, len(cases))
    return cases
