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
# The dev split: origins strictly before the held-out window, one horizon apart, for choosing capplan's
# settings without looking at the held-out weeks. Each origin keeps at least this much training data.
DEV_ORIGINS = 8
DEV_MIN_TRAIN = {"long": LONG_MIN_HOURS, "short": 7 * 24}


@dataclass(frozen=True)
class Case:
    """One benchmark series: training values, the held-out actuals right after them, and provenance."""

    name: str
    train: pd.Series  # hourly, tz-naive local time (as in the CSVs), no NaN
    test: pd.Series
    interpolated: int  # hourly buckets with no raw sample, filled by interpolation
    # The test window overlaps one of NAB's labelled anomaly windows: a failure no forecaster is meant
    # to predict, so accuracy and coverage are also reported without these windows.
    labelled: bool = False


def hourly(path: Path) -> tuple[pd.Series, int]:
    """Hourly means of a NAB CSV, with empty hours interpolated; returns the count of filled hours."""
    raw = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")["value"].astype(float)
    grid = raw.sort_index().resample("1h").mean()
    missing = int(grid.isna().sum())
    return grid.interpolate(method="time").rename(path.stem), missing


def groups(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """File name -> NAB group (e.g. realAWSCloudwatch), read from NAB's label file."""
    return {Path(key).name: key.split("/")[0] for key in _label_file(data_dir)}


def anomalies(data_dir: Path = DATA_DIR) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """File stem -> NAB's labelled anomaly windows (start, end), local time as in the CSVs."""
    return {
        Path(key).stem: [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in windows]
        for key, windows in _label_file(data_dir).items()
    }


def _label_file(data_dir: Path) -> dict[str, list[list[str]]]:
    return json.loads((data_dir / "combined_windows.json").read_text())


def panel(
    which: str, data_dir: Path = DATA_DIR, train_hours: int | None = None, split: str = "test"
) -> list[Case]:
    """The ``long`` panel (>= 3 weeks, last 168 h held out) or the ``short`` one (14-day AWS, last 48 h).

    ``split="dev"`` gives, instead of the held-out window, up to DEV_ORIGINS earlier windows of the
    same length ending where the next begins (the newest ends where the held-out one starts), named
    ``series@-k``. ``train_hours`` keeps only the newest training hours (for the fixed-size timing run)."""
    if split not in ("test", "dev"):
        raise ValueError(f"unknown split {split!r}; use test or dev")
    group_of = groups(data_dir)
    labels = anomalies(data_dir)
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
        if split == "test":
            cases.append(
                _case(path.stem, values, len(values) - holdout, holdout, missing, train_hours, labels)
            )
            continue
        for k in range(1, DEV_ORIGINS + 1):
            end = len(values) - (k + 1) * holdout
            if end < DEV_MIN_TRAIN[which]:
                break
            cases.append(_case(f"{path.stem}@-{k}", values, end, holdout, missing, train_hours, labels))
    log.info("panel %s: %d series", which, len(cases))
    return cases


def _case(
    name: str,
    values: pd.Series,
    end: int,
    holdout: int,
    missing: int,
    train_hours: int | None,
    labels: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]],
) -> Case:
    train = values.iloc[:end]
    if train_hours is not None:
        train = train.iloc[-train_hours:]
    test = values.iloc[end : end + holdout]
    first, stop = test.index[0], test.index[-1] + pd.Timedelta("1h")  # hourly buckets: [start, start+1h)
    labelled = any(start < stop and finish >= first for start, finish in labels.get(str(values.name), []))
    return Case(name=name, train=train, test=test, interpolated=missing, labelled=labelled)
